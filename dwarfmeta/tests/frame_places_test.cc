// frame_places_test — the places dwarfmeta records for locals and parameters over
// their function's code (model.h FramePlace): at -O2 main's `srv` of rootserver
// lives in a location list whose entries include a callee-saved register over the
// event loop (where the update point is); the parameters of the handlers are
// recorded too; the metadata image keeps every place and finds a function's first.
// A struct local GCC splits into registers (DW_OP_piece) is kept as its pieces.
#include <doctest/doctest.h>

#include <string>

#include "dwarfmeta/image.h"
#include "dwarfmeta/image_writer.h"
#include "dwarfmeta/load.h"

using namespace ttst::dwarfmeta;

TEST_CASE("main's local in a location list at -O2: a callee-saved register over the update point") {
  Program p = load("tests/programs/rootserver/rootserver_v1");
  const Function* main_fn = p.function("main");
  REQUIRE(main_fn != nullptr);
  REQUIRE(!p.update_points.empty());
  const uint64_t upoint = p.update_points.front().addr;
  CHECK(upoint >= main_fn->low);
  CHECK(upoint < main_fn->high);
  bool in_register_there = false;
  int entries = 0;
  for (const FramePlace& l : p.frame_places) {
    if (l.function_low != main_fn->low || l.name != "srv") continue;
    ++entries;
    CHECK(p.type(p.strip(l.type)).kind == TypeKind::Pointer);
    if (l.kind == PlaceKind::kRegister && l.pc_low <= upoint && upoint < l.pc_high)
      in_register_there = l.reg == 3 || l.reg == 6 || (l.reg >= 12 && l.reg <= 15);
  }
  CHECK(entries >= 1);
  CHECK(in_register_there);
  const Function* answer = p.function("answer");
  REQUIRE(answer != nullptr);
  bool param = false;
  for (const FramePlace& l : p.frame_places) param |= l.function_low == answer->low && l.name == "line";
  CHECK(param);

  std::vector<uint8_t> bytes = write_image(p);
  image::View v;
  const char* why = nullptr;
  REQUIRE(image::View::open(bytes.data(), bytes.size(), &v, &why));
  REQUIRE(v.place_count() == p.frame_places.size());
  uint32_t first = v.first_place(main_fn->low);
  REQUIRE(first < v.place_count());
  CHECK(v.place_at(first).function_low == main_fn->low);
  CHECK((first == 0 || v.place_at(first - 1).function_low < main_fn->low));
  Program back = read_image(v);
  CHECK(back.frame_places == p.frame_places);
}

// rootserver -DRS_PIECE_LOCAL: main's `struct roots { srv; wakeups; }` split by GCC
// into two registers (DW_OP_regN DW_OP_piece 8 DW_OP_regM DW_OP_piece 8): kept as
// one kPieceRegister place per piece (pieces at 0 and 8 of 8 bytes, callee-saved
// registers over the update point), and through the metadata image unchanged.
TEST_CASE("a struct local split in pieces at -O2: one register piece per member over the update point") {
  Program p = load("tests/programs/rootserver/rootserver_v1_piece");
  const Function* main_fn = p.function("main");
  REQUIRE(main_fn != nullptr);
  REQUIRE(!p.update_points.empty());
  const uint64_t upoint = p.update_points.front().addr;
  bool at0 = false, at8 = false;
  for (const FramePlace& l : p.frame_places) {
    if (l.function_low != main_fn->low || l.name != "roots") continue;
    CHECK((l.kind == PlaceKind::kPieceRegister || l.kind == PlaceKind::kPieceOther));
    CHECK(l.piece_size == 8);
    CHECK(p.type(p.strip(l.type)).kind == TypeKind::Struct);
    if (l.kind != PlaceKind::kPieceRegister || l.pc_low > upoint || upoint >= l.pc_high) continue;
    const bool callee_saved = l.reg == 3 || l.reg == 6 || (l.reg >= 12 && l.reg <= 15);
    at0 |= l.piece_at == 0 && callee_saved;
    at8 |= l.piece_at == 8 && callee_saved;
  }
  CHECK(at0);
  CHECK(at8);
  std::vector<uint8_t> bytes = write_image(p);
  image::View v;
  const char* why = nullptr;
  REQUIRE(image::View::open(bytes.data(), bytes.size(), &v, &why));
  CHECK(read_image(v).frame_places == p.frame_places);
}

// The same local built with rbx and r12-r15 kept from the compiler: both pieces in
// stack slots over the update point (DW_OP_fbreg k DW_OP_piece 8), recorded as
// kPieceCfaOffset with both offsets (the slot's from the CFA, the piece's in the
// local), through the metadata image unchanged.
TEST_CASE("a struct local split in pieces at -O2: pieces in stack slots keep both offsets") {
  Program p = load("tests/programs/rootserver/rootserver_v1_piece_slot");
  const Function* main_fn = p.function("main");
  REQUIRE(main_fn != nullptr);
  REQUIRE(!p.update_points.empty());
  const uint64_t upoint = p.update_points.front().addr;
  int64_t slot0 = 0, slot8 = 0;
  for (const FramePlace& l : p.frame_places) {
    if (l.function_low != main_fn->low || l.name != "roots" || l.kind != PlaceKind::kPieceCfaOffset) continue;
    CHECK(l.piece_size == 8);
    CHECK(l.offset < 0);  // below the CFA
    if (l.pc_low > upoint || upoint >= l.pc_high) continue;
    (l.piece_at == 0 ? slot0 : slot8) = l.offset;
  }
  CHECK(slot0 != 0);
  CHECK(slot8 != 0);
  CHECK(slot0 != slot8);
  std::vector<uint8_t> bytes = write_image(p);
  image::View v;
  const char* why = nullptr;
  REQUIRE(image::View::open(bytes.data(), bytes.size(), &v, &why));
  CHECK(read_image(v).frame_places == p.frame_places);
}
