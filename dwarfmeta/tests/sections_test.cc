// sections_test — the .ttst.annot and .ttst.upoints sections laid out as
// stfw/abi/ttst_abi.h says, emitted by test programs with top-level asm.
#include <doctest/doctest.h>

#include <cstring>
#include <set>
#include <string>

#include "dwarfmeta/error.h"
#include "dwarfmeta/load.h"
#include "dwarfmeta/ttst_sections.h"
#include "stfw/abi/ttst_abi.h"

using namespace ttst::dwarfmeta;

namespace {

const std::string P = "dwarfmeta/tests/programs/";

void check_program(const std::string& name) {
  CAPTURE(name);
  Program p = load(P + name);
  REQUIRE(p.annotations.size() == 6);
  struct {
    AnnotKind kind;
    const char* target;
    const char* arg;
  } expect[] = {
      {AnnotKind::IXfer, "blob", ""},
      {AnnotKind::PXfer, "struct conn.data", ""},
      {AnnotKind::RenamedFrom, "counter", "old_counter"},
      {AnnotKind::NoTransfer, "loop::ticks", ""},
      {AnnotKind::Allocator, "my_alloc", "size=1"},
      {AnnotKind::Deallocator, "my_free", "ptr=1"},
  };
  for (size_t i = 0; i < 6; ++i) {
    CAPTURE(i);
    CHECK(p.annotations[i].kind == expect[i].kind);
    CHECK(p.annotations[i].file == "annot.c");
    CHECK(p.annotations[i].target == expect[i].target);
    CHECK(p.annotations[i].arg == expect[i].arg);
  }
  // Update points map to their enclosing functions.
  REQUIRE(p.update_points.size() == 2);
  std::multiset<std::string> fns;
  for (const UpdatePoint& u : p.update_points) {
    const Function* f = p.function(u.function);
    REQUIRE(f != nullptr);
    CHECK(u.addr >= f->low);
    CHECK(u.addr < f->high);
    fns.insert(u.function);
  }
  CHECK(fns == std::multiset<std::string>{"loop", "main"});
  // The annotated allocator's call sites are allocation sites.
  bool my_alloc = false;
  for (const AllocSite& s : p.alloc_sites) my_alloc |= s.allocator == "my_alloc" && s.caller == "main";
  CHECK(my_alloc);
  CHECK(p.global("loop::ticks") != nullptr);
  REQUIRE(p.global("__ttst_runtime") != nullptr);
  CHECK(p.runtime_addr == p.global("__ttst_runtime")->addr);
  CHECK(load(P + "types_gcc_O0").runtime_addr == 0);
}

std::vector<uint8_t> bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

}  // namespace

TEST_CASE("annotations and update points: gcc -O0") { check_program("annot_gcc"); }
TEST_CASE("annotations and update points: clang -O2") { check_program("annot_clang_O2"); }

TEST_CASE("programs without ttst sections have none") {
  Program p = load(P + "types_gcc_O0");
  CHECK(p.annotations.empty());
  CHECK(p.update_points.empty());
}

TEST_CASE("annotation records: byte-level parsing and malformed records") {
  using namespace std::string_literals;
  auto ok = parse_annotations(bytes("T\x01\x03" "f.c\0var\0old\0"s "T\x01\x01" "g.c\0x\0\0"s));
  REQUIRE(ok.size() == 2);
  CHECK(ok[0].kind == AnnotKind::RenamedFrom);
  CHECK(ok[0].file == "f.c");
  CHECK(ok[0].target == "var");
  CHECK(ok[0].arg == "old");
  CHECK(ok[1].kind == AnnotKind::IXfer);
  CHECK(ok[1].arg.empty());
  CHECK(parse_annotations({}).empty());
  auto bad = [](const std::string& s) {
    CAPTURE(s);
    try {
      parse_annotations(bytes(s));
      FAIL("accepted a malformed record");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::BadImage);
      CHECK(std::string(e.what()).find(".ttst.annot") != std::string::npos);
    }
  };
  bad("X\x01\x01" "f.c\0v\0\0"s);  // bad tag
  bad("T\x02\x01" "f.c\0v\0\0"s);  // future ABI version
  bad("T\x01\x1f" "f.c\0v\0\0"s);  // unknown kind (11 is KEEP_NEW; 12-17 are assigned)
  bad("T\x01\x01" "f.c\0v"s);      // unterminated
  bad("T\x01"s);                   // truncated
}

TEST_CASE("update point records are little-endian u64 addresses") {
  std::vector<uint8_t> sec(16);
  uint64_t a = 0x401234, b = 0x1122334455667788ull;
  std::memcpy(sec.data(), &a, 8);
  std::memcpy(sec.data() + 8, &b, 8);
  auto ups = parse_update_points(sec);
  REQUIRE(ups.size() == 2);
  CHECK(ups[0].addr == a);
  CHECK(ups[1].addr == b);
}
