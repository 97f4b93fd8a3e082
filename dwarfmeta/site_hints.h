// site_hints.h — the type an allocation site's record has when the code that
// receives it is optimised (-O2): proven from the machine code and DWARF, never
// guessed from scope.
//
// At -O0 alloc_sites.cc sees the result of malloc stored into a global or a frame
// slot and takes that pointer's type. At -O2 the receiving local lives in a
// register, a location list, an inlined copy of the function, or nowhere at all
// (optimised out); its declaration is still in DWARF. The DWARF walk
// (dwarf_reader.cc) collects every scope of code (a function, a lexical block, an
// inlined subroutine) with its pc ranges and every local and parameter of each,
// with its places (register, frame slot) over pc ranges. Then, per site that has
// no hint yet:
//   - the proof: site_receiver.h follows the result from the return address
//     through the moves that copy it. A variable whose DWARF location at a pc is a
//     register or stack slot holding the result there receives it; so does a
//     pointer member written by `mov [base + disp], holder` where `base` is, at that
//     pc, a variable of type `struct S *` (the member at disp of S). Each receiver
//     whose pointee is a struct or union (a whole fraction of the allocation's size
//     when DWARF's call site gives it) is proven. One proven type -> the hint
//     (AllocSite::type); several -> AllocSite::candidates (certain). A `void *` /
//     `char *` receiver proves nothing (a struct is often built in raw memory).
//   - no proof: the suspects are the pointer-to-struct/union locals and parameters
//     of the scopes covering the call, innermost out to the enclosing function or
//     inlined copy, that have no location or value at the call itself (a variable
//     live across the call holds something else: `conn *c` while `c->rbuf =
//     malloc(n)`), each a whole fraction of the allocation's size when known; a
//     `void *` / `char *` of that kind makes them uncertain (AllocSite::uncertain).
//     They go to AllocSite::candidates, never to the hint: scope is no data flow (a
//     byte buffer next to an unrelated `struct foo *f` is no foo). The transfer
//     never types a record from them; it refuses a record reached only through
//     `void *` / `char *` when a suspect it fits changes layout, else copies its
//     bytes (stfw/xfer/engine_site_candidates.cc).
#ifndef DWARFMETA_SITE_HINTS_H
#define DWARFMETA_SITE_HINTS_H

#include <libdwarf/libdwarf.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "dwarfmeta/model.h"
#include "dwarfmeta/site_receiver.h"

namespace ttst::dwarfmeta {

using PcRanges = std::vector<std::pair<uint64_t, uint64_t>>;  // [low, high)

inline constexpr uint32_t kNoScope = 0xffffffffu;

struct HintScope {
  uint32_t parent = kNoScope;  // the scope it is in (kNoScope: a function's own)
  bool boundary = false;       // a function or an inlined copy: candidates stop here
  PcRanges ranges;
};

// Where a variable is over [low, high): a register (kRegister, reg), a frame slot
// (kCfaOffset, offset from the CFA) or memory at a register plus offset
// (kRegisterOffset: reg 7 is an rsp slot).
struct HintPlace {
  uint64_t low = 0, high = 0;
  PlaceKind kind = PlaceKind::kRegister;
  uint8_t reg = 0;
  int64_t offset = 0;
};

struct HintVariable {
  uint32_t scope = 0;
  std::string name;
  uint64_t type_off = ~uint64_t{0};  // DIE offset of its type (dwarf_reader.cc resolves it)
  TypeId type = kVoid;
  std::vector<HintPlace> places;     // its places (frame_places.h), for the receiver proof
  PcRanges live;                     // where it has a location or value at all (one expression, a
                                     // constant: everywhere, {0, ~0})
};

// A call's arguments that DWARF knows as constants (DW_TAG_call_site).
struct HintCall {
  uint64_t return_pc = 0;
  uint8_t known = 0;  // 1: rdi, 2: rsi
  uint64_t rdi = 0, rsi = 0;
};

// A DWARF expression that is one constant (DW_OP_lit0..31, DW_OP_const1u/2u/4u/8u,
// DW_OP_constu): true and its value, else false.
bool constant_expression(const std::vector<uint8_t>& expr, uint64_t& value);

// Scopes in the order the walk met them: a function's scope comes before the
// scopes inside it, and those before the next function's.
struct HintScopes {
  std::vector<HintScope> scopes;
  std::vector<HintVariable> variables;
  std::vector<HintCall> calls;
};

// The pc ranges of a scope DIE: DW_AT_low_pc/high_pc (in `a`) or DW_AT_ranges
// (DWARF 5 .debug_rnglists, DWARF 4 .debug_ranges from `cu_base`). Empty when
// it has neither or they cannot be read.
PcRanges read_scope_ranges(Dwarf_Debug dbg, Dwarf_Die die, bool has_low, bool has_high, bool high_is_offset,
                           uint64_t low, uint64_t high, unsigned cu_version, uint64_t cu_base);

// Where the variable `die` has a location or a value: each location list entry's
// range, everything for one expression or DW_AT_const_value (`whole`), none when
// optimised out.
PcRanges read_live_ranges(Dwarf_Debug dbg, Dwarf_Die die, bool whole);

// Fills AllocSite::type (when still void, from a proof) and AllocSite::candidates
// of prog's sites, except those in `received` (return addresses: the result goes
// straight to a global or a frame slot, alloc_sites.cc, whose type stands, typed or
// not). `flows`: each site's result flow by return address (site_receiver.h).
void hint_from_scopes(const HintScopes& scopes, Program& prog, const std::set<uint64_t>& received,
                      const std::map<uint64_t, ResultFlow>& flows);

}  // namespace ttst::dwarfmeta

#endif
