// frame_places.h — where a local or parameter is, over its function's code, read
// from its DW_AT_location (one expression or a location list: the -O2 case, a
// register here, a stack slot there) as model.h FramePlace entries. Only entries of
// one simple operation are kept (DW_OP_regN/regx, DW_OP_bregN k, DW_OP_fbreg k);
// a value computed by an expression (DW_OP_stack_value) and entry values are left
// out: the local is then simply not a root over that range. A composite location
// (DW_OP_piece) is kept as its pieces, each with its offset in the local: in a
// register, in a stack slot, or other (kPieceOther): the engine reads, pairs and
// writes the pointer members of the readable ones (stfw/xfer/frame_pieces.cc).
#pragma once

#include <libdwarf/libdwarf.h>

#include <cstdint>
#include <vector>

#include "dwarfmeta/model.h"

namespace ttst::dwarfmeta {

struct PlaceFrame {
  uint64_t function_low = 0;   // the concrete function whose frame holds the local
  bool fbreg_known = false;    // its frame base is the CFA (GCC) or rbp (clang)
  int64_t fbreg_adjust = 0;    // frame base minus CFA
};

// Appends `die`'s places (name and type left for the caller) to `out`.
void read_frame_places(Dwarf_Debug dbg, Dwarf_Die die, const PlaceFrame& frame, std::vector<FramePlace>& out);

}  // namespace ttst::dwarfmeta
