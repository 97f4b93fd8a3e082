// dwarf_attrs.cc — reading a DIE's attributes into Attrs: one function per kind of
// value (reference, unsigned constant, signed constant, flag, location, pc).
#include "dwarfmeta/dwarf_attrs.h"

#include <string>

#include "dwarfmeta/dwarf_handle.h"
#include "dwarfmeta/error.h"

namespace ttst::dwarfmeta {
namespace {

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

bool is_block(Dwarf_Half form) {
  return form == DW_FORM_block1 || form == DW_FORM_block2 || form == DW_FORM_block4 || form == DW_FORM_block;
}

// The bytes of an expression (exprloc or block form), copied: blocks are freed here.
bool expression(Dwarf_Debug dbg, Dwarf_Attribute at, Dwarf_Half form, std::vector<uint8_t>& out, Dwarf_Error* err) {
  if (form == DW_FORM_exprloc) {
    Dwarf_Unsigned len = 0;
    Dwarf_Ptr ptr = nullptr;
    if (dwarf_formexprloc(at, &len, &ptr, err) != DW_DLV_OK) return false;
    auto* p = static_cast<const uint8_t*>(ptr);
    out.assign(p, p + len);
    return true;
  }
  Dwarf_Block* blk = nullptr;
  if (!is_block(form) || dwarf_formblock(at, &blk, err) != DW_DLV_OK) return false;
  auto* p = static_cast<const uint8_t*>(blk->bl_data);
  out.assign(p, p + blk->bl_len);
  dwarf_dealloc(dbg, blk, DW_DLA_BLOCK);
  return true;
}

// DW_AT_type, DW_AT_specification, DW_AT_abstract_origin: a DIE offset.
void read_reference(Dwarf_Attribute at, Dwarf_Half num, Dwarf_Half form, Attrs& a, Dwarf_Error* err) {
  if (num == DW_AT_type && form == DW_FORM_ref_sig8)
    throw Error(ErrorKind::BadDwarf,
                "DWARF type units (-fdebug-types-section) are not supported: rebuild without -fdebug-types-section");
  Dwarf_Off off = 0;
  if (dwarf_global_formref(at, &off, err) != DW_DLV_OK) return;
  (num == DW_AT_type ? a.type_off : num == DW_AT_specification ? a.spec_off : a.origin_off) = off;
}

// Sizes, bit positions, counts, encodings and source positions.
void read_unsigned(Dwarf_Attribute at, Dwarf_Half num, Dwarf_Half form, Attrs& a, Dwarf_Error* err) {
  Dwarf_Unsigned u = 0;
  if (formudata(at, form, &u, err) != DW_DLV_OK) return;
  switch (num) {
    case DW_AT_byte_size: a.has_size = true, a.byte_size = u; break;
    case DW_AT_encoding: a.encoding = u; break;
    case DW_AT_data_bit_offset: a.has_data_bit_offset = true, a.data_bit_offset = u; break;
    case DW_AT_bit_offset: a.has_bit_offset = true, a.bit_offset = u; break;
    case DW_AT_bit_size: a.bit_size = u; break;
    case DW_AT_count: a.has_count = true, a.count = u; break;
    case DW_AT_decl_file: a.decl_file = u; break;
    case DW_AT_decl_line: a.decl_line = u; break;
    case DW_AT_inline: a.is_inline = u == DW_INL_inlined || u == DW_INL_declared_inlined; break;
    default: break;
  }
}

// DW_AT_upper_bound (signed when its form says so) and DW_AT_const_value (an
// enumerator: unsigned only in the unsigned forms).
void read_signed(Dwarf_Attribute at, Dwarf_Half num, Dwarf_Half form, Attrs& a, Dwarf_Error* err) {
  bool is_signed = num == DW_AT_upper_bound ? (form == DW_FORM_sdata || form == DW_FORM_implicit_const)
                                            : !(form == DW_FORM_udata || form == DW_FORM_data8);
  int64_t v = 0;
  if (is_signed) {
    Dwarf_Signed s = 0;
    if (dwarf_formsdata(at, &s, err) != DW_DLV_OK) return;
    v = s;
  } else {
    Dwarf_Unsigned u = 0;
    if (formudata(at, form, &u, err) != DW_DLV_OK) return;
    v = static_cast<int64_t>(u);
  }
  if (num == DW_AT_upper_bound) a.has_upper = true, a.upper = v;
  else a.has_const = true, a.const_value = v;
}

// DW_AT_external, DW_AT_declaration.
void read_flag(Dwarf_Attribute at, Dwarf_Half num, Attrs& a, Dwarf_Error* err) {
  Dwarf_Bool flag = 0;
  if (dwarf_formflag(at, &flag, err) != DW_DLV_OK) return;
  (num == DW_AT_external ? a.external : a.declaration) = flag;
}

// DW_AT_data_member_location: a constant, or DW_OP_plus_uconst N (DWARF 2).
void read_member_location(Dwarf_Debug dbg, Dwarf_Attribute at, Dwarf_Half form, Attrs& a, Dwarf_Error* err) {
  if (form != DW_FORM_exprloc && !is_block(form)) {
    Dwarf_Unsigned u = 0;
    if (formudata(at, form, &u, err) == DW_DLV_OK) a.has_member_loc = true, a.member_loc = u;
    return;
  }
  std::vector<uint8_t> expr;
  if (!expression(dbg, at, form, expr, err) || expr.empty() || expr[0] != DW_OP_plus_uconst) return;
  const uint8_t* p = expr.data() + 1;
  a.has_member_loc = true, a.member_loc = read_uleb(p, expr.data() + expr.size());
}

// DW_AT_location of a variable: kept when it is one expression. Other forms are
// location lists: locals, never static storage.
void read_location(Dwarf_Debug dbg, Dwarf_Attribute at, Dwarf_Half form, Attrs& a, Dwarf_Error* err) {
  if (expression(dbg, at, form, a.location, err)) a.has_location = true;
}

// DW_AT_low_pc (an address), DW_AT_high_pc (an address, or a length from low_pc).
void read_pc(Dwarf_Attribute at, Dwarf_Half num, Dwarf_Half form, Attrs& a, Dwarf_Error* err) {
  Dwarf_Addr addr = 0;
  if (num == DW_AT_low_pc) {
    if (dwarf_formaddr(at, &addr, err) == DW_DLV_OK) a.has_low = true, a.low = addr;
    return;
  }
  if (dwarf_get_form_class(4, num, 8, form) == DW_FORM_CLASS_CONSTANT || form == DW_FORM_data1 ||
      form == DW_FORM_data2 || form == DW_FORM_data4 || form == DW_FORM_data8 || form == DW_FORM_udata) {
    Dwarf_Unsigned u = 0;
    if (formudata(at, form, &u, err) == DW_DLV_OK) a.has_high = true, a.high_is_offset = true, a.high = u;
  } else if (dwarf_formaddr(at, &addr, err) == DW_DLV_OK) {
    a.has_high = true, a.high = addr;
  }
}

// One attribute; an error reading its value leaves it unset.
void read_attr(Dwarf_Debug dbg, Dwarf_Attribute at, Attrs& a) {
  Dwarf_Error err = nullptr;
  Dwarf_Half num = 0, form = 0;
  dwarf_whatattr(at, &num, &err);
  dwarf_whatform(at, &form, &err);
  switch (num) {
    case DW_AT_name: {
      char* name = nullptr;
      if (dwarf_formstring(at, &name, &err) == DW_DLV_OK) a.name = name;
      break;
    }
    case DW_AT_type: case DW_AT_specification: case DW_AT_abstract_origin:
      read_reference(at, num, form, a, &err);
      break;
    case DW_AT_byte_size: case DW_AT_encoding: case DW_AT_data_bit_offset: case DW_AT_bit_offset:
    case DW_AT_bit_size: case DW_AT_count: case DW_AT_decl_file: case DW_AT_decl_line: case DW_AT_inline:
      read_unsigned(at, num, form, a, &err);
      break;
    case DW_AT_upper_bound: case DW_AT_const_value:
      read_signed(at, num, form, a, &err);
      break;
    case DW_AT_external: case DW_AT_declaration:
      read_flag(at, num, a, &err);
      break;
    case DW_AT_data_member_location:
      read_member_location(dbg, at, form, a, &err);
      break;
    case DW_AT_location:
      read_location(dbg, at, form, a, &err);
      break;
    case DW_AT_frame_base:
      if (expression(dbg, at, form, a.frame_base, &err)) a.has_frame_base = true;
      break;
    case DW_AT_low_pc: case DW_AT_high_pc:
      read_pc(at, num, form, a, &err);
      break;
    case DW_AT_call_return_pc: {  // site_hints.h: the allocation's size argument
      Dwarf_Addr addr = 0;
      if (dwarf_formaddr(at, &addr, &err) == DW_DLV_OK) a.has_return_pc = true, a.return_pc = addr;
      break;
    }
    case DW_AT_call_value: case DW_AT_GNU_call_site_value:
      if (expression(dbg, at, form, a.call_value, &err)) a.has_call_value = true;
      break;
    default:
      break;
  }
  if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
}

}  // namespace

void check(int rc, Dwarf_Debug dbg, Dwarf_Error err, const char* what) {
  if (rc == DW_DLV_ERROR) {
    std::string msg = err ? dwarf_errmsg(err) : "unknown error";
    if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
    throw Error(ErrorKind::BadDwarf, std::string("cannot read DWARF (") + what + "): " + msg +
                                         ": rebuild with a supported compiler (gcc or clang, -g)");
  }
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

void read_attrs(Dwarf_Debug dbg, Dwarf_Die die, Attrs& a) {
  Dwarf_Error err = nullptr;
  Dwarf_Attribute* list = nullptr;
  Dwarf_Signed n = 0;
  int rc = dwarf_attrlist(die, &list, &n, &err);
  check(rc, dbg, err, "attributes");
  if (rc != DW_DLV_OK) return;
  DwarfAttributeList attrs(dbg, list, n);  // freed also when an error unwinds
  for (Dwarf_Signed i = 0; i < attrs.size(); ++i) read_attr(dbg, attrs[i], a);
}

}  // namespace ttst::dwarfmeta
