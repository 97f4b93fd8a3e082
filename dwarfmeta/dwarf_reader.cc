// dwarf_reader.cc — the libdwarf walk (Debian's 20210528 API).
//
// One pass over every DIE of .debug_info collects types (with references still as
// DIE offsets, into a TypeTable that later resolves and deduplicates them),
// variables with static storage and subprograms with code.
#include "dwarfmeta/dwarf_reader.h"

#include <libdwarf/dwarf.h>
#include <libdwarf/libdwarf.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <unordered_map>

#include "dwarfmeta/dwarf_handle.h"
#include "dwarfmeta/error.h"
#include "dwarfmeta/type_table.h"

namespace ttst::dwarfmeta {
namespace {

constexpr uint64_t kNoOff = kNoOffset;

// An unsigned attribute value. DWARF 5's DW_FORM_implicit_const keeps the value in
// the abbreviation (gcc uses it for sizes and file numbers shared by many DIEs);
// libdwarf 20210528's dwarf_formudata does not read that form, dwarf_formsdata does.
int formudata(Dwarf_Attribute at, Dwarf_Half form, Dwarf_Unsigned* out, Dwarf_Error* err) {
  if (form != DW_FORM_implicit_const) return dwarf_formudata(at, out, err);
  Dwarf_Signed v = 0;
  int rc = dwarf_formsdata(at, &v, err);
  if (rc == DW_DLV_OK) *out = static_cast<Dwarf_Unsigned>(v);
  return rc;
}

// The attributes of one DIE that dwarfmeta uses.
struct Attrs {
  const char* name = nullptr;
  uint64_t type_off = kNoOff, spec_off = kNoOff, origin_off = kNoOff;
  bool has_size = false;
  uint64_t byte_size = 0;
  uint64_t encoding = 0;
  bool has_member_loc = false;
  uint64_t member_loc = 0;
  bool has_data_bit_offset = false;
  uint64_t data_bit_offset = 0;
  bool has_bit_offset = false;
  uint64_t bit_offset = 0;   // DWARF 2/3 style, counted from the MSB
  uint64_t bit_size = 0;
  bool has_upper = false, has_count = false;
  int64_t upper = 0;
  uint64_t count = 0;
  bool has_const = false;
  int64_t const_value = 0;
  bool external = false, declaration = false;
  bool has_location = false;
  std::vector<uint8_t> location;
  bool has_low = false, has_high = false, high_is_offset = false;
  uint64_t low = 0, high = 0;
  bool is_inline = false;
  uint64_t decl_file = 0, decl_line = 0;
};

class Walker {
 public:
  Walker(Dwarf_Debug dbg, Program& prog, std::vector<DwarfFunction>& fns)
      : dbg_(dbg), prog_(prog), fns_(fns) {}

  void run();

 private:
  struct Var {
    std::string name, file, function;
    uint64_t type_off = kNoOff;
    uint64_t addr = 0;
    bool external = false, tls = false, in_function = false;
    uint64_t decl_file = 0, decl_line = 0;  // to find the function of kUnnamedFunction
  };
  // clang puts the statics of an inlined function in a subprogram DIE with no
  // attributes at all; the function is then found by source position.
  static constexpr const char* kUnnamedFunction = "\x01unnamed";
  struct SourceFunction {
    uint64_t file, line;
    std::string name;
  };
  std::vector<SourceFunction> cu_functions_;
  void resolve_unnamed(size_t first_var);

  void walk(Dwarf_Die die, const std::string& func, int depth);
  void read_attrs(Dwarf_Die die, Attrs& a);
  uint64_t die_offset(Dwarf_Die die);
  void add_type(Dwarf_Die die, Dwarf_Half tag, const Attrs& a);
  void add_variable(Dwarf_Die die, const Attrs& a, const std::string& func);
  bool location_address(Dwarf_Die die, const std::vector<uint8_t>& expr, uint64_t& addr, bool& tls);
  // name/type/external of a DIE that defines something declared elsewhere.
  void inherit(uint64_t off, Attrs& a, int depth = 0);
  void finish();

  Dwarf_Debug dbg_;
  Program& prog_;
  std::vector<DwarfFunction>& fns_;
  std::string cu_file_;
  TypeTable types_;
  std::vector<Var> vars_;
};

void check(int rc, Dwarf_Debug dbg, Dwarf_Error err, const char* what) {
  if (rc == DW_DLV_ERROR) {
    std::string msg = err ? dwarf_errmsg(err) : "unknown error";
    if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
    throw Error(ErrorKind::BadDwarf, std::string("cannot read DWARF (") + what + "): " + msg +
                                         ": rebuild with a supported compiler (gcc or clang, -g)");
  }
}

std::string basename_of(const char* p) {
  if (!p) return "";
  std::string s(p);
  auto slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

uint64_t read_uleb(const uint8_t*& p, const uint8_t* end) {
  uint64_t v = 0;
  int shift = 0;
  while (p < end) {
    uint8_t b = *p++;
    if (shift < 64) v |= uint64_t(b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) break;
  }
  return v;
}

uint64_t read_le(const uint8_t*& p, const uint8_t* end, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n && p < end; ++i) v |= uint64_t(*p++) << (8 * i);
  return v;
}

bool is_type_tag(Dwarf_Half tag) {
  switch (tag) {
    case DW_TAG_base_type: case DW_TAG_structure_type: case DW_TAG_union_type:
    case DW_TAG_enumeration_type: case DW_TAG_pointer_type: case DW_TAG_array_type:
    case DW_TAG_typedef: case DW_TAG_const_type: case DW_TAG_volatile_type:
    case DW_TAG_restrict_type: case DW_TAG_atomic_type: case DW_TAG_subroutine_type:
    case DW_TAG_unspecified_type:
      return true;
    default:
      return false;
  }
}

Encoding encoding_of(uint64_t ate) {
  switch (ate) {
    case DW_ATE_signed: return Encoding::Signed;
    case DW_ATE_unsigned: case DW_ATE_UTF: case DW_ATE_address: return Encoding::Unsigned;
    case DW_ATE_signed_char: return Encoding::SignedChar;
    case DW_ATE_unsigned_char: return Encoding::UnsignedChar;
    case DW_ATE_boolean: return Encoding::Bool;
    case DW_ATE_float: return Encoding::Float;
    case DW_ATE_complex_float: return Encoding::Complex;
    default: return Encoding::Other;
  }
}

// GCC's spelling of base types; clang says "short", "unsigned long", ...
std::string canonical_base_name(const std::string& n) {
  static const std::unordered_map<std::string, std::string> names = {
      {"short", "short int"},
      {"unsigned short", "short unsigned int"},
      {"unsigned", "unsigned int"},
      {"long", "long int"},
      {"unsigned long", "long unsigned int"},
      {"long long", "long long int"},
      {"unsigned long long", "long long unsigned int"},
      {"_Complex float", "complex float"},
      {"_Complex double", "complex double"},
      {"_Complex long double", "complex long double"},
      {"bool", "_Bool"},
  };
  auto it = names.find(n);
  return it == names.end() ? n : it->second;
}

uint64_t Walker::die_offset(Dwarf_Die die) {
  Dwarf_Off off = 0;
  Dwarf_Error err = nullptr;
  check(dwarf_dieoffset(die, &off, &err), dbg_, err, "DIE offset");
  return off;
}

void Walker::read_attrs(Dwarf_Die die, Attrs& a) {
  Dwarf_Error err = nullptr;
  Dwarf_Attribute* list = nullptr;
  Dwarf_Signed n = 0;
  int rc = dwarf_attrlist(die, &list, &n, &err);
  check(rc, dbg_, err, "attributes");
  if (rc != DW_DLV_OK) return;
  DwarfAttributeList owner(dbg_, list, n);
  for (Dwarf_Signed i = 0; i < n; ++i) {
    Dwarf_Attribute at = list[i];
    Dwarf_Half num = 0, form = 0;
    dwarf_whatattr(at, &num, &err);
    dwarf_whatform(at, &form, &err);
    Dwarf_Unsigned u = 0;
    Dwarf_Signed s = 0;
    Dwarf_Off off = 0;
    Dwarf_Bool flag = 0;
    switch (num) {
      case DW_AT_name: {
        char* name = nullptr;
        if (dwarf_formstring(at, &name, &err) == DW_DLV_OK) a.name = name;
        break;
      }
      case DW_AT_type:
        if (form == DW_FORM_ref_sig8)
          throw Error(ErrorKind::BadDwarf, "DWARF type units (-fdebug-types-section) are not supported: rebuild "
                                           "without -fdebug-types-section");
        if (dwarf_global_formref(at, &off, &err) == DW_DLV_OK) a.type_off = off;
        break;
      case DW_AT_specification:
        if (dwarf_global_formref(at, &off, &err) == DW_DLV_OK) a.spec_off = off;
        break;
      case DW_AT_abstract_origin:
        if (dwarf_global_formref(at, &off, &err) == DW_DLV_OK) a.origin_off = off;
        break;
      case DW_AT_byte_size:
        if (formudata(at, form, &u, &err) == DW_DLV_OK) a.has_size = true, a.byte_size = u;
        break;
      case DW_AT_encoding:
        if (formudata(at, form, &u, &err) == DW_DLV_OK) a.encoding = u;
        break;
      case DW_AT_data_member_location:
        if (form == DW_FORM_block1 || form == DW_FORM_block2 || form == DW_FORM_block4 ||
            form == DW_FORM_block || form == DW_FORM_exprloc) {
          Dwarf_Unsigned len = 0;
          Dwarf_Ptr ptr = nullptr;
          Dwarf_Block* blk = nullptr;
          const uint8_t *p = nullptr, *end = nullptr;
          if (form == DW_FORM_exprloc && dwarf_formexprloc(at, &len, &ptr, &err) == DW_DLV_OK) {
            p = static_cast<const uint8_t*>(ptr), end = p + len;
          } else if (form != DW_FORM_exprloc && dwarf_formblock(at, &blk, &err) == DW_DLV_OK) {
            p = static_cast<const uint8_t*>(blk->bl_data), end = p + blk->bl_len;
          }
          if (p && p < end && *p == DW_OP_plus_uconst) {
            ++p;
            a.has_member_loc = true, a.member_loc = read_uleb(p, end);
          }
          if (blk) dwarf_dealloc(dbg_, blk, DW_DLA_BLOCK);
        } else if (formudata(at, form, &u, &err) == DW_DLV_OK) {
          a.has_member_loc = true, a.member_loc = u;
        }
        break;
      case DW_AT_data_bit_offset:
        if (formudata(at, form, &u, &err) == DW_DLV_OK) a.has_data_bit_offset = true, a.data_bit_offset = u;
        break;
      case DW_AT_bit_offset:
        if (formudata(at, form, &u, &err) == DW_DLV_OK) a.has_bit_offset = true, a.bit_offset = u;
        break;
      case DW_AT_bit_size:
        if (formudata(at, form, &u, &err) == DW_DLV_OK) a.bit_size = u;
        break;
      case DW_AT_upper_bound:
        if (form == DW_FORM_sdata || form == DW_FORM_implicit_const) {
          if (dwarf_formsdata(at, &s, &err) == DW_DLV_OK) a.has_upper = true, a.upper = s;
        } else if (formudata(at, form, &u, &err) == DW_DLV_OK) {
          a.has_upper = true, a.upper = static_cast<int64_t>(u);
        }
        break;
      case DW_AT_count:
        if (formudata(at, form, &u, &err) == DW_DLV_OK) a.has_count = true, a.count = u;
        break;
      case DW_AT_const_value:
        if (form == DW_FORM_udata || form == DW_FORM_data8) {
          if (formudata(at, form, &u, &err) == DW_DLV_OK) a.has_const = true, a.const_value = static_cast<int64_t>(u);
        } else if (dwarf_formsdata(at, &s, &err) == DW_DLV_OK) {
          a.has_const = true, a.const_value = s;
        }
        break;
      case DW_AT_external:
        if (dwarf_formflag(at, &flag, &err) == DW_DLV_OK) a.external = flag;
        break;
      case DW_AT_declaration:
        if (dwarf_formflag(at, &flag, &err) == DW_DLV_OK) a.declaration = flag;
        break;
      case DW_AT_decl_file:
        if (formudata(at, form, &u, &err) == DW_DLV_OK) a.decl_file = u;
        break;
      case DW_AT_decl_line:
        if (formudata(at, form, &u, &err) == DW_DLV_OK) a.decl_line = u;
        break;
      case DW_AT_inline:
        if (formudata(at, form, &u, &err) == DW_DLV_OK)
          a.is_inline = u == DW_INL_inlined || u == DW_INL_declared_inlined;
        break;
      case DW_AT_location: {
        Dwarf_Unsigned len = 0;
        Dwarf_Ptr ptr = nullptr;
        Dwarf_Block* blk = nullptr;
        if (form == DW_FORM_exprloc) {
          if (dwarf_formexprloc(at, &len, &ptr, &err) == DW_DLV_OK) {
            auto* p = static_cast<const uint8_t*>(ptr);
            a.has_location = true, a.location.assign(p, p + len);
          }
        } else if (form == DW_FORM_block1 || form == DW_FORM_block2 || form == DW_FORM_block4 ||
                   form == DW_FORM_block) {
          if (dwarf_formblock(at, &blk, &err) == DW_DLV_OK) {
            auto* p = static_cast<const uint8_t*>(blk->bl_data);
            a.has_location = true, a.location.assign(p, p + blk->bl_len);
            dwarf_dealloc(dbg_, blk, DW_DLA_BLOCK);
          }
        }
        // Other forms are location lists: locals, never static storage.
        break;
      }
      case DW_AT_low_pc: {
        Dwarf_Addr addr = 0;
        if (dwarf_formaddr(at, &addr, &err) == DW_DLV_OK) a.has_low = true, a.low = addr;
        break;
      }
      case DW_AT_high_pc: {
        if (dwarf_get_form_class(4, num, 8, form) == DW_FORM_CLASS_CONSTANT || form == DW_FORM_data1 ||
            form == DW_FORM_data2 || form == DW_FORM_data4 || form == DW_FORM_data8 || form == DW_FORM_udata) {
          if (formudata(at, form, &u, &err) == DW_DLV_OK) a.has_high = true, a.high_is_offset = true, a.high = u;
        } else {
          Dwarf_Addr addr = 0;
          if (dwarf_formaddr(at, &addr, &err) == DW_DLV_OK) a.has_high = true, a.high = addr;
        }
        break;
      }
      default:
        break;
    }
    if (err) {
      dwarf_dealloc(dbg_, err, DW_DLA_ERROR);
      err = nullptr;
    }
  }
}

void Walker::inherit(uint64_t off, Attrs& a, int depth) {
  if (off == kNoOff || depth > 4) return;
  Dwarf_Die die = nullptr;
  Dwarf_Error err = nullptr;
  int rc = dwarf_offdie_b(dbg_, off, true, &die, &err);
  check(rc, dbg_, err, "referenced DIE");
  if (rc != DW_DLV_OK) return;
  DwarfDie owner(die);
  Attrs o;
  read_attrs(die, o);
  if (!a.name) a.name = o.name;
  if (a.type_off == kNoOff) a.type_off = o.type_off;
  a.external = a.external || o.external;
  inherit(o.spec_off != kNoOff ? o.spec_off : o.origin_off, a, depth + 1);
}

bool Walker::location_address(Dwarf_Die die, const std::vector<uint8_t>& expr, uint64_t& addr, bool& tls) {
  const uint8_t* p = expr.data();
  const uint8_t* end = p + expr.size();
  bool have = false;
  tls = false;
  while (p < end) {
    uint8_t op = *p++;
    switch (op) {
      case DW_OP_addr: addr = read_le(p, end, 8), have = true; break;
      case DW_OP_addrx: case DW_OP_GNU_addr_index: {
        uint64_t idx = read_uleb(p, end);
        Dwarf_Unsigned a = 0;
        Dwarf_Error err = nullptr;
        if (dwarf_debug_addr_index_to_addr(die, idx, &a, &err) != DW_DLV_OK) {
          if (err) dwarf_dealloc(dbg_, err, DW_DLA_ERROR);
          return false;
        }
        addr = a, have = true;
        break;
      }
      case DW_OP_const1u: addr = read_le(p, end, 1), have = true; break;
      case DW_OP_const2u: addr = read_le(p, end, 2), have = true; break;
      case DW_OP_const4u: addr = read_le(p, end, 4), have = true; break;
      case DW_OP_const8u: addr = read_le(p, end, 8), have = true; break;
      case DW_OP_constu: addr = read_uleb(p, end), have = true; break;
      case DW_OP_GNU_push_tls_address: case DW_OP_form_tls_address: tls = true; break;
      default: return false;  // a register or frame-relative location: not static storage
    }
  }
  return have;
}

void Walker::add_type(Dwarf_Die die, Dwarf_Half tag, const Attrs& a) {
  uint64_t off = die_offset(die);
  RawType r;
  Type& t = r.t;
  if (a.name) t.name = a.name;
  t.size = a.byte_size;
  t.declaration = a.declaration;
  r.target_off = a.type_off;
  switch (tag) {
    case DW_TAG_base_type:
      t.kind = TypeKind::Base, t.encoding = encoding_of(a.encoding), t.name = canonical_base_name(t.name);
      break;
    case DW_TAG_structure_type: t.kind = TypeKind::Struct; break;
    case DW_TAG_union_type: t.kind = TypeKind::Union; break;
    case DW_TAG_enumeration_type: t.kind = TypeKind::Enum; break;
    case DW_TAG_pointer_type: t.kind = TypeKind::Pointer, t.size = a.has_size ? a.byte_size : 8; break;
    case DW_TAG_typedef: t.kind = TypeKind::Typedef; break;
    case DW_TAG_const_type: t.kind = TypeKind::Const; break;
    case DW_TAG_volatile_type: t.kind = TypeKind::Volatile; break;
    case DW_TAG_restrict_type: t.kind = TypeKind::Restrict; break;
    case DW_TAG_atomic_type: t.kind = TypeKind::Atomic; break;
    case DW_TAG_subroutine_type: t.kind = TypeKind::Function; break;
    case DW_TAG_array_type: t.kind = TypeKind::Array; break;
    default: t.kind = TypeKind::Void; break;  // DW_TAG_unspecified_type
  }
  // Children: members, enumerators, parameters, subranges.
  std::vector<uint64_t> dims;   // counts, outermost first
  Dwarf_Die first = nullptr;
  Dwarf_Error err = nullptr;
  int rc = dwarf_child(die, &first, &err);
  check(rc, dbg_, err, "children");
  DwarfDie owner(rc == DW_DLV_OK ? first : nullptr);
  while (owner) {
    Dwarf_Die child = owner.get();
    prog_.die_count++;
    Dwarf_Half ctag = 0;
    dwarf_tag(child, &ctag, &err);
    if (ctag == DW_TAG_member || ctag == DW_TAG_enumerator || ctag == DW_TAG_formal_parameter ||
        ctag == DW_TAG_subrange_type || ctag == DW_TAG_unspecified_parameters) {
      Attrs c;
      read_attrs(child, c);
      if (ctag == DW_TAG_member && (t.kind == TypeKind::Struct || t.kind == TypeKind::Union)) {
        Member m;
        if (c.name) m.name = c.name;
        uint64_t bitpos = c.member_loc * 8;
        if (c.has_data_bit_offset) {
          bitpos = c.data_bit_offset;
        } else if (c.has_bit_offset) {  // DWARF 2/3: offset of the MSB in the storage unit
          uint64_t unit = c.has_size ? c.byte_size : 0;
          bitpos = c.member_loc * 8 + unit * 8 - c.bit_offset - c.bit_size;
        }
        m.bit_size = static_cast<uint32_t>(c.bit_size);
        if (m.bit_size) {
          m.offset = bitpos / 8, m.bit_offset = static_cast<uint32_t>(bitpos % 8);
        } else {
          m.offset = bitpos / 8;
        }
        t.members.push_back(std::move(m));
        r.member_offs.push_back(c.type_off);
      } else if (ctag == DW_TAG_enumerator) {
        t.enumerators.push_back(Enumerator{c.name ? c.name : "", c.const_value});
      } else if (ctag == DW_TAG_formal_parameter && t.kind == TypeKind::Function) {
        r.param_offs.push_back(c.type_off);
      } else if (ctag == DW_TAG_unspecified_parameters) {
        t.variadic = true;
      } else if (ctag == DW_TAG_subrange_type) {
        if (c.has_count) dims.push_back(c.count);
        else if (c.has_upper) dims.push_back(c.upper < 0 ? 0 : uint64_t(c.upper) + 1);
        else dims.push_back(kFlexible);
      }
    } else if (is_type_tag(ctag)) {
      Attrs c;
      read_attrs(child, c);
      add_type(child, ctag, c);   // a type defined inside a struct
    }
    Dwarf_Die next = nullptr;
    rc = dwarf_siblingof_b(dbg_, child, true, &next, &err);
    check(rc, dbg_, err, "siblings");  // on error, owner still frees child
    owner.reset(rc == DW_DLV_OK ? next : nullptr);
  }
  if (t.kind == TypeKind::Array) {
    if (dims.empty()) dims.push_back(kFlexible);
    // T x[a][b][c]: Array(a) of Array(b) of Array(c) of T; inner ones have no DIE.
    uint64_t elem_off = a.type_off;
    bool elem_is_id = false;
    for (size_t i = dims.size(); i-- > 1;) {
      RawType inner;
      inner.t.kind = TypeKind::Array;
      inner.t.count = dims[i];
      inner.target_off = elem_off;
      inner.target_is_raw = elem_is_id;
      elem_off = types_.add(std::move(inner), kNoOffset);
      elem_is_id = true;
    }
    t.count = dims[0];
    r.target_off = elem_off;
    r.target_is_raw = elem_is_id;
    t.size = 0;  // computed from the element once resolved
  }
  types_.add(std::move(r), off);
}

void Walker::add_variable(Dwarf_Die die, const Attrs& a0, const std::string& func) {
  if (a0.declaration || !a0.has_location) return;
  uint64_t addr = 0;
  bool tls = false;
  if (!location_address(die, a0.location, addr, tls)) return;
  Attrs a = a0;
  inherit(a.spec_off != kNoOff ? a.spec_off : a.origin_off, a);
  if (!a.name) return;
  Var v;
  v.name = a.name;
  v.file = cu_file_;
  v.function = func;
  v.in_function = !func.empty();
  v.decl_file = a.decl_file;
  v.decl_line = a.decl_line;
  v.type_off = a.type_off;
  v.addr = addr;
  v.tls = tls;
  v.external = a.external;
  vars_.push_back(std::move(v));
}

void Walker::walk(Dwarf_Die die, const std::string& func, int depth) {
  Dwarf_Error err = nullptr;
  Dwarf_Die first = nullptr;
  int rc = dwarf_child(die, &first, &err);
  check(rc, dbg_, err, "children");
  DwarfDie owner(rc == DW_DLV_OK ? first : nullptr);
  while (owner) {
    Dwarf_Die child = owner.get();
    prog_.die_count++;
    Dwarf_Half tag = 0;
    check(dwarf_tag(child, &tag, &err), dbg_, err, "tag");
    if (is_type_tag(tag)) {
      Attrs a;
      read_attrs(child, a);
      add_type(child, tag, a);
    } else if (tag == DW_TAG_variable) {
      Attrs a;
      read_attrs(child, a);
      add_variable(child, a, func);
    } else if (tag == DW_TAG_subprogram) {
      Attrs a;
      read_attrs(child, a);
      Attrs named = a;
      inherit(a.spec_off != kNoOff ? a.spec_off : a.origin_off, named);
      std::string name = named.name ? named.name : "";
      if (named.name && named.decl_line) cu_functions_.push_back(SourceFunction{named.decl_file, named.decl_line, name});
      if (!named.name) name = kUnnamedFunction;
      if (a.has_low && a.has_high && !a.declaration) {
        uint64_t high = a.high_is_offset ? a.low + a.high : a.high;
        fns_.push_back(DwarfFunction{name, cu_file_, a.low, high, named.external, named.type_off, kVoid});
      }
      if (depth < 64) walk(child, name, depth + 1);
    } else if (tag == DW_TAG_inlined_subroutine) {
      // Statics seen inside an inlined copy belong to the inlined function.
      Attrs a;
      read_attrs(child, a);
      inherit(a.origin_off, a);
      if (depth < 64) walk(child, a.name ? a.name : "", depth + 1);
    } else if (tag == DW_TAG_lexical_block || tag == DW_TAG_namespace) {
      if (depth < 64) walk(child, func, depth + 1);
    }
    Dwarf_Die next = nullptr;
    rc = dwarf_siblingof_b(dbg_, child, true, &next, &err);
    check(rc, dbg_, err, "siblings");  // on error, owner still frees child
    owner.reset(rc == DW_DLV_OK ? next : nullptr);
  }
}

void Walker::run() {
  Dwarf_Error err = nullptr;
  types_.reserve(4096);
  for (;;) {
    Dwarf_Unsigned hdr_len = 0, next_off = 0, typeoff = 0;
    Dwarf_Half version = 0, addr_size = 0, len_size = 0, ext_size = 0, cu_type = 0;
    Dwarf_Off abbrev = 0;
    Dwarf_Sig8 sig;
    int rc = dwarf_next_cu_header_d(dbg_, true, &hdr_len, &version, &abbrev, &addr_size, &len_size, &ext_size,
                                    &sig, &typeoff, &next_off, &cu_type, &err);
    check(rc, dbg_, err, "compilation unit header");
    if (rc == DW_DLV_NO_ENTRY) break;
    Dwarf_Die cu = nullptr;
    rc = dwarf_siblingof_b(dbg_, nullptr, true, &cu, &err);
    check(rc, dbg_, err, "compilation unit");
    if (rc != DW_DLV_OK) continue;
    DwarfDie owner(cu);
    prog_.die_count++;
    char* name = nullptr;
    cu_file_.clear();
    if (dwarf_diename(cu, &name, &err) == DW_DLV_OK) cu_file_ = basename_of(name);
    size_t first_var = vars_.size();
    cu_functions_.clear();
    walk(cu, "", 0);
    resolve_unnamed(first_var);
  }
  auto t = std::chrono::steady_clock::now();
  finish();
  if (std::getenv("DWARFMETA_TIMING"))
    std::fprintf(stderr, "dwarfmeta: (finish         %8.2f ms)\n",
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
}

void Walker::resolve_unnamed(size_t first_var) {
  for (size_t i = first_var; i < vars_.size(); ++i) {
    Var& v = vars_[i];
    if (v.function != kUnnamedFunction) continue;
    // C functions do not nest: the enclosing one starts last before the variable.
    const SourceFunction* best = nullptr;
    for (const SourceFunction& f : cu_functions_)
      if (f.file == v.decl_file && f.line <= v.decl_line && (!best || f.line > best->line)) best = &f;
    v.function = best ? best->name : "";
    v.in_function = true;
    if (v.function.empty()) v.function = "?";
  }
}

void Walker::finish() {
  prog_.types = types_.build();
  // 5. Globals with state IDs; one per address (inlined copies repeat statics).
  //    Function statics of same-named static functions in different files get the
  //    file as a prefix: "a.c::tick::calls", "b.c::tick::calls".
  for (DwarfFunction& f : fns_)
    if (f.return_off != kNoOff) f.return_type = types_.type_of(f.return_off);
  std::map<std::pair<bool, uint64_t>, bool> at;
  std::map<std::string, int> uses;
  size_t first = prog_.globals.size();
  for (Var& v : vars_) {
    if (!at.emplace(std::make_pair(v.tls, v.addr), true).second) continue;
    Global g;
    g.name = v.name;
    g.file = v.file;
    g.addr = v.addr;
    g.tls = v.tls;
    g.type = types_.type_of(v.type_off);
    g.size = prog_.types[g.type].size;
    if (v.in_function) {
      g.linkage = Linkage::FunctionStatic, g.function = v.function, g.id = v.function + "::" + v.name;
    } else if (v.external) {
      g.linkage = Linkage::External, g.id = v.name;
    } else {
      g.linkage = Linkage::FileStatic, g.id = v.file + "::" + v.name;
    }
    uses[g.id]++;
    prog_.globals.push_back(std::move(g));
  }
  for (size_t i = first; i < prog_.globals.size(); ++i) {
    Global& g = prog_.globals[i];
    if (uses[g.id] > 1 && g.linkage == Linkage::FunctionStatic) g.id = g.file + "::" + g.id;
  }
}

}  // namespace

void read_dwarf(int fd, const std::string& path, Program& prog, std::vector<DwarfFunction>& functions) {
  // Every DIE, attribute, list and block is deallocated by the walk itself, so
  // libdwarf's own allocation tracking (a large share of its time) is not needed.
  dwarf_set_de_alloc_flag(0);
  Dwarf_Debug dbg = nullptr;
  Dwarf_Error err = nullptr;
  int rc = dwarf_init_b(fd, DW_DLC_READ, DW_GROUPNUMBER_ANY, nullptr, nullptr, &dbg, &err);
  if (rc == DW_DLV_NO_ENTRY)
    throw Error(ErrorKind::NoDwarf, path + ": built without -g: rebuild with ttst-cc or -g");
  if (rc != DW_DLV_OK) {
    std::string msg = err ? dwarf_errmsg(err) : "unknown error";
    throw Error(ErrorKind::BadDwarf, "cannot read DWARF of " + path + ": " + msg + ": rebuild with gcc or clang and -g");
  }
  DwarfSession session(dbg);
  Walker w(dbg, prog, functions);
  w.run();
}

}  // namespace ttst::dwarfmeta
