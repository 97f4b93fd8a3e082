// dwarf_attrs.h — the attributes of one DIE that dwarfmeta uses, read in one pass
// over its attribute list (libdwarf 20210528), whatever form the compiler chose.
#ifndef DWARFMETA_DWARF_ATTRS_H
#define DWARFMETA_DWARF_ATTRS_H

#include <libdwarf/dwarf.h>
#include <libdwarf/libdwarf.h>

#include <cstdint>
#include <vector>

#include "dwarfmeta/type_table.h"

namespace ttst::dwarfmeta {

// The attributes of one DIE that dwarfmeta uses.
struct Attrs {
  const char* name = nullptr;
  uint64_t type_off = kNoOffset, spec_off = kNoOffset, origin_off = kNoOffset;
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
  bool has_frame_base = false;          // DW_AT_frame_base, when one expression
  std::vector<uint8_t> frame_base;
  uint64_t decl_file = 0, decl_line = 0;
  bool has_return_pc = false;           // DW_AT_call_return_pc (a call site)
  uint64_t return_pc = 0;
  bool has_call_value = false;          // DW_AT_call_value / DW_AT_GNU_call_site_value (its parameter)
  std::vector<uint8_t> call_value;
};


// Fills `a` from the attributes of `die`. Throws Error{BadDwarf} when the list
// cannot be read or a type lives in a type unit (-fdebug-types-section).
void read_attrs(Dwarf_Debug dbg, Dwarf_Die die, Attrs& a);

// Throws Error{BadDwarf} naming `what` when `rc` is DW_DLV_ERROR (and frees `err`).
void check(int rc, Dwarf_Debug dbg, Dwarf_Error err, const char* what);

// An unsigned LEB128 number at p (advanced past it), not reading past `end`.
uint64_t read_uleb(const uint8_t*& p, const uint8_t* end);

}  // namespace ttst::dwarfmeta

#endif
