// dwarf_reader.cc — the libdwarf walk (Debian's 20210528 API).
//
// One pass over every DIE of .debug_info collects types (with references still as
// DIE offsets, into a TypeTable that later resolves and merges them),
// variables with static storage, subprograms with code, and the locals and
// parameters those keep at one place of their stack frame (model.h Local).
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

#include "dwarfmeta/dwarf_attrs.h"
#include "dwarfmeta/frame_places.h"
#include "dwarfmeta/dwarf_handle.h"
#include "dwarfmeta/error.h"
#include "dwarfmeta/site_hints.h"
#include "dwarfmeta/type_table.h"

namespace ttst::dwarfmeta {
namespace {

class Walker {
 public:
  Walker(Dwarf_Debug dbg, Program& prog, std::vector<DwarfFunction>& fns, HintScopes* hints)
      : dbg_(dbg), prog_(prog), fns_(fns), hints_(hints) {}

  void run();

 private:
  struct Var {
    std::string name, file, function;
    uint64_t type_off = kNoOffset;
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

  // Calls visit(child, tag) for each child DIE of `die`, counting it.
  template <typename Visit>
  void each_child(Dwarf_Die die, Visit&& visit);
  void walk(Dwarf_Die die, const std::string& func, int depth);
  void add_subprogram(Dwarf_Die die, int depth);
  void read_attrs(Dwarf_Die die, Attrs& a) { dwarfmeta::read_attrs(dbg_, die, a); }
  uint64_t die_offset(Dwarf_Die die);
  void add_type(Dwarf_Die die, Dwarf_Half tag, const Attrs& a);
  void nest_dimensions(RawType& r, std::vector<uint64_t> dims);
  void add_variable(Dwarf_Die die, const Attrs& a, const std::string& func);
  void add_local(const Attrs& a, const std::string& func);
  void add_frame_places(Dwarf_Die die, const Attrs& a, const std::string& func);
  // Site hints (site_hints.h): the scopes of code and the variables in them.
  uint32_t push_scope(Dwarf_Die die, const Attrs& a, bool boundary, uint32_t parent);
  void add_hint_variable(Dwarf_Die die, const Attrs& a);
  void add_call_site(Dwarf_Die die);
  bool location_address(Dwarf_Die die, const std::vector<uint8_t>& expr, uint64_t& addr, bool& tls);
  // name/type/external of a DIE that defines something declared elsewhere.
  void inherit(uint64_t off, Attrs& a, int depth = 0);
  void finish();

  // The concrete function being walked: its code's start, name, and how its frame
  // base relates to the CFA (frame_known_ false: no fixed-place locals recorded).
  uint64_t frame_low_ = 0;
  int64_t frame_adjust_ = 0;
  bool frame_known_ = false;
  std::string frame_name_;
  struct PendingLocal {
    Local local;
    uint64_t type_off;
  };
  std::vector<PendingLocal> locals_;
  uint64_t code_low_ = 0;  // the concrete function being walked (0: none), for frame places
  struct PendingPlace {
    FramePlace place;
    uint64_t type_off;
  };
  std::vector<PendingPlace> places_;

  Dwarf_Debug dbg_;
  Program& prog_;
  std::vector<DwarfFunction>& fns_;
  HintScopes* hints_ = nullptr;      // null: no site hints wanted
  uint32_t scope_ = kNoScope;        // the scope of code being walked (site_hints.h)
  bool hint_added_ = false;          // the DIE being read got a HintVariable (its places follow)
  unsigned cu_version_ = 0;
  uint64_t cu_base_ = 0;             // the CU's DW_AT_low_pc (DWARF 4 range lists)
  std::string cu_file_;
  TypeTable types_;
  std::vector<Var> vars_;
};

std::string basename_of(const char* p) {
  if (!p) return "";
  std::string s(p);
  auto slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
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

TypeKind kind_of(Dwarf_Half tag) {
  switch (tag) {
    case DW_TAG_base_type: return TypeKind::Base;
    case DW_TAG_structure_type: return TypeKind::Struct;
    case DW_TAG_union_type: return TypeKind::Union;
    case DW_TAG_enumeration_type: return TypeKind::Enum;
    case DW_TAG_pointer_type: return TypeKind::Pointer;
    case DW_TAG_typedef: return TypeKind::Typedef;
    case DW_TAG_const_type: return TypeKind::Const;
    case DW_TAG_volatile_type: return TypeKind::Volatile;
    case DW_TAG_restrict_type: return TypeKind::Restrict;
    case DW_TAG_atomic_type: return TypeKind::Atomic;
    case DW_TAG_subroutine_type: return TypeKind::Function;
    case DW_TAG_array_type: return TypeKind::Array;
    default: return TypeKind::Void;  // DW_TAG_unspecified_type
  }
}

// Children that describe part of the type they are in.
bool describes_type(Dwarf_Half tag) {
  return tag == DW_TAG_member || tag == DW_TAG_enumerator || tag == DW_TAG_formal_parameter ||
         tag == DW_TAG_subrange_type || tag == DW_TAG_unspecified_parameters;
}

// A member's place: DWARF 4+ data_bit_offset, DWARF 2/3 bit_offset (of the MSB in
// a storage unit of byte_size), or a byte offset.
Member member_of(const Attrs& c) {
  Member m;
  if (c.name) m.name = c.name;
  uint64_t bitpos = c.member_loc * 8;
  if (c.has_data_bit_offset) {
    bitpos = c.data_bit_offset;
  } else if (c.has_bit_offset) {
    uint64_t unit = c.has_size ? c.byte_size : 0;
    bitpos = c.member_loc * 8 + unit * 8 - c.bit_offset - c.bit_size;
  }
  m.bit_size = static_cast<uint32_t>(c.bit_size);
  m.offset = bitpos / 8;
  if (m.bit_size) m.bit_offset = static_cast<uint32_t>(bitpos % 8);
  return m;
}

// A child that describes part of `r`: a member, an enumerator, a parameter, `...`
// or an array dimension (appended to `dims`).
void add_part(Dwarf_Half tag, const Attrs& c, RawType& r, std::vector<uint64_t>& dims) {
  Type& t = r.t;
  if (tag == DW_TAG_member && (t.kind == TypeKind::Struct || t.kind == TypeKind::Union)) {
    t.members.push_back(member_of(c));
    r.member_offs.push_back(c.type_off);
  } else if (tag == DW_TAG_enumerator) {
    t.enumerators.push_back(Enumerator{c.name ? c.name : "", c.const_value});
  } else if (tag == DW_TAG_formal_parameter && t.kind == TypeKind::Function) {
    r.param_offs.push_back(c.type_off);
  } else if (tag == DW_TAG_unspecified_parameters) {
    t.variadic = true;
  } else if (tag == DW_TAG_subrange_type) {
    if (c.has_count) dims.push_back(c.count);
    else if (c.has_upper) dims.push_back(c.upper < 0 ? 0 : uint64_t(c.upper) + 1);
    else dims.push_back(kFlexible);
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

template <typename Visit>
void Walker::each_child(Dwarf_Die die, Visit&& visit) {
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
    visit(child, tag);
    Dwarf_Die next = nullptr;
    rc = dwarf_siblingof_b(dbg_, child, true, &next, &err);
    check(rc, dbg_, err, "siblings");  // on error, owner still frees child
    owner.reset(rc == DW_DLV_OK ? next : nullptr);
  }
}

uint64_t Walker::die_offset(Dwarf_Die die) {
  Dwarf_Off off = 0;
  Dwarf_Error err = nullptr;
  check(dwarf_dieoffset(die, &off, &err), dbg_, err, "DIE offset");
  return off;
}

void Walker::inherit(uint64_t off, Attrs& a, int depth) {
  if (off == kNoOffset || depth > 4) return;
  Dwarf_Die die = nullptr;
  Dwarf_Error err = nullptr;
  int rc = dwarf_offdie_b(dbg_, off, true, &die, &err);
  check(rc, dbg_, err, "referenced DIE");
  if (rc != DW_DLV_OK) return;
  DwarfDie owner(die);
  Attrs o;
  read_attrs(die, o);
  if (!a.name) a.name = o.name;
  if (a.type_off == kNoOffset) a.type_off = o.type_off;
  a.external = a.external || o.external;
  inherit(o.spec_off != kNoOffset ? o.spec_off : o.origin_off, a, depth + 1);
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
  t.kind = kind_of(tag);
  if (a.name) t.name = a.name;
  t.size = a.byte_size;
  t.declaration = a.declaration;
  r.target_off = a.type_off;
  if (t.kind == TypeKind::Base) t.encoding = encoding_of(a.encoding), t.name = canonical_base_name(t.name);
  if (t.kind == TypeKind::Pointer) t.size = a.has_size ? a.byte_size : 8;
  std::vector<uint64_t> dims;  // array counts, outermost first
  each_child(die, [&](Dwarf_Die child, Dwarf_Half ctag) {
    if (describes_type(ctag)) {
      Attrs c;
      read_attrs(child, c);
      add_part(ctag, c, r, dims);
    } else if (is_type_tag(ctag)) {
      Attrs c;
      read_attrs(child, c);
      add_type(child, ctag, c);  // a type defined inside a struct
    }
  });
  if (t.kind == TypeKind::Array) nest_dimensions(r, std::move(dims));
  types_.add(std::move(r), off);
}

// T x[a][b][c]: Array(a) of Array(b) of Array(c) of T; the inner ones have no DIE.
void Walker::nest_dimensions(RawType& r, std::vector<uint64_t> dims) {
  if (dims.empty()) dims.push_back(kFlexible);
  uint64_t elem_off = r.target_off;
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
  r.t.count = dims[0];
  r.target_off = elem_off;
  r.target_is_raw = elem_is_id;
  r.t.size = 0;  // computed from the element once resolved
}

void Walker::add_variable(Dwarf_Die die, const Attrs& a0, const std::string& func) {
  if (a0.declaration || !a0.has_location) return;
  uint64_t addr = 0;
  bool tls = false;
  if (!location_address(die, a0.location, addr, tls)) return;
  Attrs a = a0;
  inherit(a.spec_off != kNoOffset ? a.spec_off : a.origin_off, a);
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
  each_child(die, [&](Dwarf_Die child, Dwarf_Half tag) {
    if (is_type_tag(tag)) {
      Attrs a;
      read_attrs(child, a);
      add_type(child, tag, a);
    } else if (tag == DW_TAG_variable) {
      Attrs a;
      read_attrs(child, a);
      add_variable(child, a, func);
      add_local(a, func);
      add_hint_variable(child, a);
      add_frame_places(child, a, func);
    } else if (tag == DW_TAG_formal_parameter) {
      Attrs a;
      read_attrs(child, a);
      add_local(a, func);
      add_hint_variable(child, a);
      add_frame_places(child, a, func);
    } else if (tag == DW_TAG_subprogram) {
      add_subprogram(child, depth);
    } else if ((tag == DW_TAG_call_site || tag == DW_TAG_GNU_call_site) && hints_ && scope_ != kNoScope) {
      add_call_site(child);
    } else if (tag == DW_TAG_inlined_subroutine) {
      // Statics seen inside an inlined copy belong to the inlined function.
      Attrs a;
      read_attrs(child, a);
      inherit(a.origin_off, a);
      const uint32_t outer = scope_;
      if (scope_ != kNoScope) scope_ = push_scope(child, a, true, outer);
      if (depth < 64) walk(child, a.name ? a.name : "", depth + 1);
      scope_ = outer;
    } else if (tag == DW_TAG_lexical_block || tag == DW_TAG_namespace) {
      const uint32_t outer = scope_;
      if (scope_ != kNoScope && tag == DW_TAG_lexical_block) {
        Attrs a;
        read_attrs(child, a);
        scope_ = push_scope(child, a, false, outer);
      }
      if (depth < 64) walk(child, func, depth + 1);
      scope_ = outer;
    }
  });
}

// A local or parameter at one fixed place of the frame being walked: its location
// is exactly DW_OP_fbreg N (location lists and registers, -O2, are not recorded).
void Walker::add_local(const Attrs& a0, const std::string& func) {
  if (!frame_known_ || !a0.has_location || a0.location.empty() || a0.location[0] != DW_OP_fbreg) return;
  const uint8_t* p = a0.location.data() + 1;
  const uint8_t* end = a0.location.data() + a0.location.size();
  int64_t n = 0;
  unsigned shift = 0;
  uint8_t byte = 0x80;
  while (p < end && (byte & 0x80) && shift < 64) byte = *p++, n |= int64_t(byte & 0x7f) << shift, shift += 7;
  if (byte & 0x80 || p != end) return;  // truncated, or more operations follow
  if (shift < 64 && (byte & 0x40)) n |= -(int64_t(1) << shift);
  Attrs a = a0;
  inherit(a.origin_off, a);
  if (!a.name) return;
  std::string name = func == frame_name_ || func.empty() ? a.name : func + "::" + a.name;
  locals_.push_back(PendingLocal{Local{frame_low_, name, n + frame_adjust_, 0}, a.type_off});
}

// A local or parameter's places over its function's code (frame_places.h): the
// frames' roots at the update point, at -O2 too.
void Walker::add_frame_places(Dwarf_Die die, const Attrs& a0, const std::string& func) {
  if (!code_low_ || a0.declaration || func.empty()) return void(hint_added_ = false);
  Attrs a = a0;
  inherit(a.origin_off, a);
  if (!a.name || a.type_off == kNoOffset) return;
  std::vector<FramePlace> found;
  read_frame_places(dbg_, die, PlaceFrame{code_low_, frame_known_ && frame_low_ == code_low_, frame_adjust_}, found);
  std::string name = func == frame_name_ || func.empty() ? a.name : func + "::" + a.name;
  for (FramePlace& p : found) {
    if (hint_added_ && (p.kind == PlaceKind::kRegister || p.kind == PlaceKind::kCfaOffset ||
                        p.kind == PlaceKind::kRegisterOffset))  // for the receiver proof (site_hints.h)
      hints_->variables.back().places.push_back(HintPlace{p.pc_low ? p.pc_low : code_low_,
                                                          p.pc_high ? p.pc_high : ~0ull, p.kind, p.reg, p.offset});
    p.name = name;
    places_.push_back(PendingPlace{std::move(p), a.type_off});
  }
}

// A function: its code range (when it has code) and the statics inside it.
void Walker::add_subprogram(Dwarf_Die die, int depth) {
  Attrs a;
  read_attrs(die, a);
  Attrs named = a;
  inherit(a.spec_off != kNoOffset ? a.spec_off : a.origin_off, named);
  std::string name = named.name ? named.name : "";
  if (named.name && named.decl_line) cu_functions_.push_back(SourceFunction{named.decl_file, named.decl_line, name});
  if (!named.name) name = kUnnamedFunction;
  if (a.has_low && a.has_high && !a.declaration) {
    uint64_t high = a.high_is_offset ? a.low + a.high : a.high;
    fns_.push_back(DwarfFunction{name, cu_file_, a.low, high, named.external, named.type_off, kVoid});
  }
  // Its frame base: the CFA (GCC) or rbp, which is CFA - 16 with frame pointers (clang).
  const uint64_t saved_low = frame_low_;
  const int64_t saved_adjust = frame_adjust_;
  const bool saved_known = frame_known_;
  const std::string saved_name = frame_name_;
  const uint64_t saved_code_low = code_low_;
  if (a.has_low && a.has_high && !a.declaration) code_low_ = a.low;
  const uint32_t saved_scope = scope_;
  scope_ = kNoScope;
  if (hints_ && !a.declaration) {
    scope_ = push_scope(die, a, true, kNoScope);
    if (hints_->scopes.back().ranges.empty()) hints_->scopes.pop_back(), scope_ = kNoScope;  // no code
  }
  if (a.has_low && a.has_high && !a.declaration && a.has_frame_base && a.frame_base.size() == 1 &&
      (a.frame_base[0] == DW_OP_call_frame_cfa || a.frame_base[0] == DW_OP_reg6))
    frame_low_ = a.low, frame_adjust_ = a.frame_base[0] == DW_OP_reg6 ? -16 : 0, frame_known_ = true,
    frame_name_ = name;
  else
    frame_known_ = false;
  if (depth < 64) walk(die, name, depth + 1);
  frame_low_ = saved_low, frame_adjust_ = saved_adjust, frame_known_ = saved_known, frame_name_ = saved_name;
  code_low_ = saved_code_low;
  scope_ = saved_scope;
}

uint32_t Walker::push_scope(Dwarf_Die die, const Attrs& a, bool boundary, uint32_t parent) {
  HintScope s;
  s.parent = parent, s.boundary = boundary;
  s.ranges = read_scope_ranges(dbg_, die, a.has_low, a.has_high, a.high_is_offset, a.low, a.high, cu_version_, cu_base_);
  hints_->scopes.push_back(std::move(s));
  return uint32_t(hints_->scopes.size() - 1);
}

// A call's constant arguments in rdi and rsi (site_hints.h: an allocation's size).
void Walker::add_call_site(Dwarf_Die die) {
  Attrs a;
  read_attrs(die, a);
  HintCall call;
  call.return_pc = a.has_return_pc ? a.return_pc : a.has_low ? a.low : 0;  // GNU: DW_AT_low_pc is the return
  if (!call.return_pc) return;
  each_child(die, [&](Dwarf_Die child, Dwarf_Half tag) {
    if (tag != DW_TAG_call_site_parameter && tag != DW_TAG_GNU_call_site_parameter) return;
    Attrs p;
    read_attrs(child, p);
    if (!p.has_location || p.location.size() != 1 || !p.has_call_value) return;
    uint64_t value = 0;
    if (!constant_expression(p.call_value, value)) return;
    if (p.location[0] == DW_OP_reg5) call.known |= 1, call.rdi = value;
    if (p.location[0] == DW_OP_reg4) call.known |= 2, call.rsi = value;
  });
  if (call.known) hints_->calls.push_back(call);
}

// A local or parameter of the scope being walked, optimised out or not (site_hints.h).
void Walker::add_hint_variable(Dwarf_Die die, const Attrs& a0) {
  hint_added_ = false;
  if (!hints_ || scope_ == kNoScope || a0.declaration) return;
  Attrs a = a0;
  inherit(a.origin_off, a);
  if (a.type_off == kNoOffset) return;
  HintVariable v;
  v.scope = scope_, v.name = a.name ? a.name : "", v.type_off = a.type_off;
  v.live = read_live_ranges(dbg_, die, a0.has_location || a0.has_const);  // one expression or a constant: always
  hints_->variables.push_back(std::move(v));
  hint_added_ = true;
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
    cu_version_ = version;
    Dwarf_Addr cu_low = 0;
    cu_base_ = dwarf_lowpc(cu, &cu_low, &err) == DW_DLV_OK ? cu_low : 0;
    if (err) dwarf_dealloc(dbg_, err, DW_DLA_ERROR), err = nullptr;
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
    if (f.return_off != kNoOffset) f.return_type = types_.type_of(f.return_off);
  for (PendingLocal& l : locals_) {
    l.local.type = l.type_off == kNoOffset ? kVoid : types_.type_of(l.type_off);
    l.local.size = l.type_off == kNoOffset ? 0 : prog_.types[l.local.type].size;
    prog_.locals.push_back(std::move(l.local));
  }
  std::sort(prog_.locals.begin(), prog_.locals.end(), [](const Local& x, const Local& y) {
    return x.function_low != y.function_low ? x.function_low < y.function_low : x.cfa_offset < y.cfa_offset;
  });
  if (hints_)
    for (HintVariable& v : hints_->variables) v.type = types_.type_of(v.type_off);
  for (PendingPlace& l : places_) {
    l.place.type = types_.type_of(l.type_off);
    prog_.frame_places.push_back(std::move(l.place));
  }
  std::stable_sort(prog_.frame_places.begin(), prog_.frame_places.end(), [](const FramePlace& x, const FramePlace& y) {
    if (x.function_low != y.function_low) return x.function_low < y.function_low;
    return x.name != y.name ? x.name < y.name : x.pc_low < y.pc_low;
  });
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

void read_dwarf(int fd, const std::string& path, Program& prog, std::vector<DwarfFunction>& functions,
                HintScopes* hints) {
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
  Walker w(dbg, prog, functions, hints);
  w.run();
}

}  // namespace ttst::dwarfmeta
