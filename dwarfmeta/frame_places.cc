// frame_places.cc — see frame_places.h.
#include "dwarfmeta/frame_places.h"

#include <libdwarf/dwarf.h>

namespace ttst::dwarfmeta {
namespace {

// One operation as a place; false when it is not a simple place.
bool place_of(Dwarf_Small atom, Dwarf_Unsigned op1, const PlaceFrame& frame, FramePlace& p) {
  if (atom >= DW_OP_reg0 && atom <= DW_OP_reg16) {
    p.kind = PlaceKind::kRegister, p.reg = static_cast<uint8_t>(atom - DW_OP_reg0), p.offset = 0;
    return true;
  }
  if (atom == DW_OP_regx && op1 <= 16) {
    p.kind = PlaceKind::kRegister, p.reg = static_cast<uint8_t>(op1), p.offset = 0;
    return true;
  }
  if (atom >= DW_OP_breg0 && atom <= DW_OP_breg16) {
    p.kind = PlaceKind::kRegisterOffset, p.reg = static_cast<uint8_t>(atom - DW_OP_breg0);
    p.offset = static_cast<int64_t>(op1);
    return true;
  }
  if (atom == DW_OP_fbreg && frame.fbreg_known) {
    p.kind = PlaceKind::kCfaOffset, p.reg = 0, p.offset = static_cast<int64_t>(op1) + frame.fbreg_adjust;
    return true;
  }
  return false;
}

// A composite location (DW_OP_piece: a struct split over registers and stack slots
// at -O2) as one place per piece: the one operation before it made a place
// (DW_OP_regN: kPieceRegister; DW_OP_fbreg / DW_OP_bregN: kPieceCfaOffset /
// kPieceRegisterOffset), else kPieceOther (optimised out, a computed value); each
// with its byte offset in the local and its size. False: no piece in it.
bool add_pieces(Dwarf_Locdesc_c desc, Dwarf_Unsigned ops, const PlaceFrame& frame, const FramePlace& range,
                std::vector<FramePlace>& out) {
  Dwarf_Error err = nullptr;
  bool any = false;
  FramePlace where;
  uint32_t since = 0;  // operations since the last piece
  uint64_t at = 0;
  for (Dwarf_Unsigned i = 0; i < ops; ++i) {
    Dwarf_Small atom = 0;
    Dwarf_Unsigned op1 = 0, op2 = 0, op3 = 0, r1 = 0, r2 = 0, r3 = 0, branch = 0;
    if (dwarf_get_location_op_value_d(desc, i, &atom, &op1, &op2, &op3, &r1, &r2, &r3, &branch, &err) != DW_DLV_OK)
      return any;
    if (atom == DW_OP_bit_piece) return any;  // bit offsets: the pieces after it are not kept
    if (atom != DW_OP_piece) {
      if (++since == 1 && !place_of(atom, op1, frame, where)) since = 2;  // not one simple place
      continue;
    }
    FramePlace p = range;
    p.kind = PlaceKind::kPieceOther;
    if (since == 1 && op1 > 0 && op1 <= 0xffff) {
      p.reg = where.reg, p.offset = where.offset;
      p.kind = where.kind == PlaceKind::kRegister         ? (op1 <= 8 ? PlaceKind::kPieceRegister : PlaceKind::kPieceOther)
               : where.kind == PlaceKind::kCfaOffset      ? PlaceKind::kPieceCfaOffset
                                                          : PlaceKind::kPieceRegisterOffset;
      if (p.kind == PlaceKind::kPieceOther) p.reg = 0, p.offset = 0;
    }
    p.piece_at = static_cast<uint32_t>(at), p.piece_size = static_cast<uint16_t>(op1 <= 0xffff ? op1 : 0);
    out.push_back(std::move(p));
    any = true, since = 0, at += op1;
  }
  return any;
}

}  // namespace

void read_frame_places(Dwarf_Debug dbg, Dwarf_Die die, const PlaceFrame& frame, std::vector<FramePlace>& out) {
  if (frame.function_low == 0) return;
  Dwarf_Error err = nullptr;
  Dwarf_Attribute attr = nullptr;
  if (dwarf_attr(die, DW_AT_location, &attr, &err) != DW_DLV_OK) {
    if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
    return;
  }
  Dwarf_Loc_Head_c head = nullptr;
  Dwarf_Unsigned count = 0;
  if (dwarf_get_loclist_c(attr, &head, &count, &err) != DW_DLV_OK) {
    if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
    dwarf_dealloc(dbg, attr, DW_DLA_ATTR);
    return;
  }
  unsigned int kind = DW_LKIND_unknown;
  if (dwarf_get_loclist_head_kind(head, &kind, &err) != DW_DLV_OK) kind = DW_LKIND_unknown;
  for (Dwarf_Unsigned i = 0; i < count && kind != DW_LKIND_unknown; ++i) {
    Dwarf_Small lle = 0, source = 0;
    Dwarf_Unsigned raw_low = 0, raw_high = 0, ops = 0, expr_off = 0, desc_off = 0;
    Dwarf_Bool unavailable = false;
    Dwarf_Addr low = 0, high = 0;
    Dwarf_Locdesc_c desc = nullptr;
    if (dwarf_get_locdesc_entry_d(head, i, &lle, &raw_low, &raw_high, &unavailable, &low, &high, &ops, &desc, &source,
                                  &expr_off, &desc_off, &err) != DW_DLV_OK)
      break;
    if (ops == 0 || unavailable) continue;
    FramePlace p;
    p.function_low = frame.function_low;
    if (kind == DW_LKIND_expression) {
      p.pc_low = p.pc_high = 0;  // the whole function
    } else {
      if (low >= high) continue;
      p.pc_low = low, p.pc_high = high;
    }
    if (ops > 1) {
      add_pieces(desc, ops, frame, p, out);
      continue;
    }
    Dwarf_Small atom = 0;
    Dwarf_Unsigned op1 = 0, op2 = 0, op3 = 0, r1 = 0, r2 = 0, r3 = 0, branch = 0;
    if (dwarf_get_location_op_value_d(desc, 0, &atom, &op1, &op2, &op3, &r1, &r2, &r3, &branch, &err) != DW_DLV_OK)
      break;
    if (place_of(atom, op1, frame, p)) out.push_back(std::move(p));
  }
  if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
  dwarf_loc_head_c_dealloc(head);
  dwarf_dealloc(dbg, attr, DW_DLA_ATTR);
}

}  // namespace ttst::dwarfmeta
