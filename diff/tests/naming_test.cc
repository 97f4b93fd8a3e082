// naming_test — ModelNamer on a hand-built StateModel: a global, a struct member,
// an array element and a heap object are each named and rendered by type.
#include <doctest/doctest.h>

#include <cstring>

#include "diff/state_model.h"

using ttst::diff::MemberDesc;
using ttst::diff::TypeDesc;

namespace {

// Type indexes in the model below.
enum : uint32_t { kInt = 1, kChar, kName, kConnPtr, kConn, kConnArr, kInts, kConfig, kDouble, kState, kU64 };

ttst::diff::StateModel model() {
  ttst::diff::StateModel m;
  auto add = [&](TypeDesc t) { m.types.push_back(std::move(t)); };
  add({TypeDesc::Base, TypeDesc::Signed, "int", 4, {}, 0, 0, {}});
  add({TypeDesc::Base, TypeDesc::Char, "char", 1, {}, 0, 0, {}});
  add({TypeDesc::Array, TypeDesc::Unsigned, "char [16]", 16, {}, kChar, 16, {}});
  add({TypeDesc::Pointer, TypeDesc::Unsigned, "struct conn *", 8, {}, 0, 0, {}});
  add({TypeDesc::Struct, TypeDesc::Unsigned, "struct conn", 32,
       {MemberDesc{"fd", 0, kInt}, MemberDesc{"name", 4, kName}, MemberDesc{"next", 24, kConnPtr}}, 0, 0, {}});
  add({TypeDesc::Array, TypeDesc::Unsigned, "struct conn [4]", 128, {}, kConn, 4, {}});
  add({TypeDesc::Array, TypeDesc::Unsigned, "int [8]", 32, {}, kInt, 8, {}});
  add({TypeDesc::Struct, TypeDesc::Unsigned, "struct config", 48,
       {MemberDesc{"port", 0, kInt}, MemberDesc{"ports", 4, kInts}, MemberDesc{"load", 40, kDouble}}, 0, 0, {}});
  add({TypeDesc::Base, TypeDesc::Float, "double", 8, {}, 0, 0, {}});
  add({TypeDesc::Enum, TypeDesc::Unsigned, "enum state", 4, {}, 0, 0, {{0, "IDLE"}, {1, "BUSY"}}});
  add({TypeDesc::Base, TypeDesc::Unsigned, "unsigned long", 8, {}, 0, 0, {}});
  m.globals = {{"counter", 0x1000, kInt}, {"conns", 0x2000, kConnArr}, {"cfg", 0x3000, kConfig},
               {"srv.c::state", 0x3100, kState}};
  m.sites[0x401234] = {"srv.c:42", kConn};
  m.sites[0x405678] = {"srv.c:99", 0};
  m.heap = {{0x10000, 64, 0x401234, 7}, {0x20000, 32, 0x401234, 8}, {0x30000, 100, 0x405678, 9},
            {0x40000, 16, 0x999999, 10}};
  return m;
}

template <typename T>
std::string render(const ttst::diff::ModelNamer& n, const ttst::diff::Named& at, T v) {
  uint8_t b[64] = {};
  memcpy(b, &v, sizeof v);
  return n.render(at, b);
}

}  // namespace

TEST_CASE("a global") {
  ttst::diff::ModelNamer n(model());
  auto x = n.name(0x1002);
  REQUIRE(x);
  CHECK(x->path == "counter");
  CHECK(x->start == 0x1000);
  CHECK(x->size == 4);
  CHECK(render(n, *x, -5) == "-5");
  CHECK(!n.name(0x1004));  // just past it
  CHECK(!n.name(0xfff));
}

TEST_CASE("a struct member and an array element inside it") {
  ttst::diff::ModelNamer n(model());
  auto port = n.name(0x3000);
  REQUIRE(port);
  CHECK(port->path == "cfg.port");
  auto p3 = n.name(0x3000 + 4 + 3 * 4 + 1);
  REQUIRE(p3);
  CHECK(p3->path == "cfg.ports[3]");
  CHECK(p3->start == 0x3010);
  CHECK(p3->size == 4);
  auto load = n.name(0x3000 + 47);
  REQUIRE(load);
  CHECK(load->path == "cfg.load");
  CHECK(render(n, *load, 0.25) == "0.25");
  auto pad = n.name(0x3000 + 36);  // between ports and load
  REQUIRE(pad);
  CHECK(pad->path == "cfg (padding +36)");
  auto st = n.name(0x3101);
  REQUIRE(st);
  CHECK(st->path == "srv.c::state");
  CHECK(render(n, *st, 1u) == "BUSY (1)");
  CHECK(render(n, *st, 5u) == "5");
}

TEST_CASE("an array of structs: element, member, string, pointer") {
  ttst::diff::ModelNamer n(model());
  auto next = n.name(0x2000 + 2 * 32 + 24 + 5);
  REQUIRE(next);
  CHECK(next->path == "conns[2].next");
  CHECK(render(n, *next, uint64_t{0x7f0012345678}) == "0x7f0012345678");
  CHECK(render(n, *next, uint64_t{0}) == "NULL");
  auto name = n.name(0x2000 + 32 + 4 + 6);
  REQUIRE(name);
  CHECK(name->path == "conns[1].name");  // a short char array is one value
  CHECK(name->start == 0x2000 + 32 + 4);
  CHECK(name->size == 16);
  char s[16] = "alice\n";
  CHECK(n.render(*name, reinterpret_cast<uint8_t*>(s)) == "\"alice\\x0a\"");
}

TEST_CASE("heap objects: typed array of structs, single struct, untyped, unknown site") {
  ttst::diff::ModelNamer n(model());
  auto a = n.name(0x10000 + 32 + 1);
  REQUIRE(a);
  CHECK(a->path == "heap object srv.c:42 #7 +32 → [1].fd");
  CHECK(a->start == 0x10020);
  auto b = n.name(0x20000 + 24);
  REQUIRE(b);
  CHECK(b->path == "heap object srv.c:42 #8 +24 → next");
  auto c = n.name(0x30000 + 50);
  REQUIRE(c);
  CHECK(c->path == "heap object srv.c:99 #9 +50");
  CHECK(c->size == 1);
  CHECK(render(n, *c, uint8_t{0xab}) == "0xab");
  auto d = n.name(0x40000 + 3);
  REQUIRE(d);
  CHECK(d->path == "heap object 0x999999 #10 +3");
  CHECK(!n.name(0x10000 + 64));
}
