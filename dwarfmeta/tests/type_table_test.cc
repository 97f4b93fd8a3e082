// type_table_test — the merge of types is exact: candidate keys forced to collide
// (the TypeTable's test seam) never merge different types, cyclic types are merged
// when equal and kept apart when a member round the cycle differs, declarations
// stand for a tag's definition only when that definition is unique; and on a real
// program of three units the same holds with the real keys.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "dwarfmeta/load.h"
#include "dwarfmeta/type_table.h"

using namespace ttst::dwarfmeta;

namespace {

const std::string P = "dwarfmeta/tests/programs/";

TypeKey every_key_collides(const Type&, TypeKey) { return TypeKey{42, 42}; }

// Types as the DWARF walk would add them, one "DIE offset" each (1, 2, ...).
class Types {
 public:
  explicit Types(TypeTable::KeyOverride key = nullptr) : table_(key) {}
  uint64_t base(const char* name, uint64_t size, Encoding e) {
    Type t;
    t.kind = TypeKind::Base, t.name = name, t.size = size, t.encoding = e;
    return add(t);
  }
  uint64_t pointer(uint64_t target) {
    Type t;
    t.kind = TypeKind::Pointer, t.size = 8;
    return add(t, target);
  }
  uint64_t typedef_of(const char* name, uint64_t target) {
    Type t;
    t.kind = TypeKind::Typedef, t.name = name;
    return add(t, target);
  }
  uint64_t declaration(const char* tag) {
    Type t;
    t.kind = TypeKind::Struct, t.name = tag, t.declaration = true;
    return add(t);
  }
  // A struct whose members are (name, type offset), 8 bytes each. A cycle refers
  // to a struct before it is added by the offset it will get (next()).
  uint64_t structure(const char* tag, std::vector<std::pair<const char*, uint64_t>> members) {
    Type t;
    t.kind = TypeKind::Struct, t.name = tag, t.size = 8 * members.size();
    std::vector<uint64_t> offs;
    for (size_t i = 0; i < members.size(); ++i) {
      t.members.push_back(Member{members[i].first, kVoid, 8 * i});
      offs.push_back(members[i].second);
    }
    return add(t, kNoOffset, offs);
  }
  uint64_t next() const { return next_; }  // the offset the next type gets
  void build() { types_ = table_.build(); }
  TypeId id(uint64_t off) const { return table_.type_of(off); }
  const Type& type(uint64_t off) const { return types_.at(id(off)); }
  size_t count() const { return types_.size(); }

 private:
  uint64_t add(Type t, uint64_t target = kNoOffset, std::vector<uint64_t> members = {}) {
    RawType r;
    r.t = std::move(t);
    r.target_off = target;
    r.member_offs = std::move(members);
    table_.add(std::move(r), next_);
    return next_++;
  }
  TypeTable table_;
  std::vector<Type> types_;
  uint64_t next_ = 1;
};

// The types of a loaded program fed back into a TypeTable: each type's offset is
// its TypeId.
std::vector<Type> rebuild(const Program& p, TypeTable& table) {
  auto off = [](TypeId id) { return id == kVoid ? kNoOffset : uint64_t{id}; };
  for (TypeId id = 1; id < p.types.size(); ++id) {
    RawType r;
    r.t = p.types[id];
    r.t.params.clear();
    r.target_off = off(r.t.target);
    for (const Member& m : r.t.members) r.member_offs.push_back(off(m.type));
    for (TypeId q : p.types[id].params) r.param_offs.push_back(off(q));
    table.add(std::move(r), id);
  }
  return table.build();
}

TypeId global_type(const Program& p, const std::string& id) {
  const Global* g = p.global(id);
  REQUIRE_MESSAGE(g != nullptr, "no global " << id);
  return g->type;
}

const Member& member(const Program& p, TypeId t, const std::string& name) {
  for (const Member& m : p.type(p.strip(t)).members)
    if (m.name == name) return m;
  FAIL("no member " << name << " in " << p.type_name(t));
  throw 0;
}

// The struct a pointer member points to.
TypeId pointee(const Program& p, TypeId t, const std::string& name) {
  return p.strip(p.type(p.strip(member(p, t, name).type)).target);
}

size_t count_structs(const Program& p, const std::string& tag) {
  size_t n = 0;
  for (const Type& t : p.types) n += t.kind == TypeKind::Struct && t.name == tag;
  return n;
}

}  // namespace

TEST_CASE("types whose keys collide are merged only when they are the same") {
  for (TypeTable::KeyOverride key : {TypeTable::KeyOverride(nullptr), &every_key_collides}) {
    CAPTURE(key != nullptr);
    Types t(key);
    uint64_t i1 = t.base("int", 4, Encoding::Signed);
    uint64_t l = t.base("long int", 8, Encoding::Signed);
    uint64_t a1 = t.structure("a", {{"x", i1}});
    uint64_t b = t.structure("b", {{"x", i1}});       // a's layout, another tag
    uint64_t i2 = t.base("int", 4, Encoding::Signed);  // a second unit's copies
    uint64_t a2 = t.structure("a", {{"x", i2}});
    uint64_t c1 = t.structure("c", {{"x", i1}});
    uint64_t c2 = t.structure("c", {{"x", l}});        // same tag, other member type
    t.build();
    CHECK(t.id(i1) == t.id(i2));
    CHECK(t.id(i1) != t.id(l));
    CHECK(t.id(a1) == t.id(a2));
    CHECK(t.id(a1) != t.id(b));
    CHECK(t.id(c1) != t.id(c2));
    CHECK(t.type(c2).members[0].type == t.id(l));
    CHECK(t.count() == 7);  // void, int, long, a, b, c, c
  }
}

TEST_CASE("cyclic types: equal copies merge, a difference round the cycle keeps them apart") {
  for (TypeTable::KeyOverride key : {TypeTable::KeyOverride(nullptr), &every_key_collides}) {
    CAPTURE(key != nullptr);
    Types t(key);
    uint64_t i = t.base("int", 4, Encoding::Signed);
    uint64_t l = t.base("long int", 8, Encoding::Signed);
    // struct list { struct list *next; int v; }, twice.
    uint64_t list1 = t.next() + 1;
    uint64_t next1 = t.pointer(list1);
    CHECK(t.structure("list", {{"next", next1}, {"v", i}}) == list1);
    uint64_t list2 = t.next() + 1;
    uint64_t next2 = t.pointer(list2);
    CHECK(t.structure("list", {{"next", next2}, {"v", i}}) == list2);
    // a -> b -> c -> a, three times; the second has `long x` in c.
    auto ring = [&](uint64_t x) {
      uint64_t a = t.next() + 5;  // pa, b, pb, c, pc are added first
      uint64_t pa = t.pointer(a);
      uint64_t c = t.next() + 3;
      uint64_t pc = t.pointer(c);
      uint64_t b = t.structure("b", {{"c", pc}});
      uint64_t pb = t.pointer(b);
      CHECK(t.structure("c", {{"a", pa}, {"x", x}}) == c);
      CHECK(t.structure("a", {{"b", pb}}) == a);
      return std::vector<uint64_t>{a, b, c};
    };
    std::vector<uint64_t> r1 = ring(i), r2 = ring(l), r3 = ring(i);
    t.build();
    CHECK(t.id(list1) == t.id(list2));
    CHECK(t.type(list1).members[0].type == t.id(next1));
    CHECK(t.type(t.type(list1).members[0].type).target == t.id(list1));
    for (size_t k = 0; k < 3; ++k) {
      CAPTURE(k);
      CHECK(t.id(r1[k]) == t.id(r3[k]));
      CHECK(t.id(r1[k]) != t.id(r2[k]));
    }
  }
}

TEST_CASE("a declaration stands for its tag's definition only when that is unique") {
  for (TypeTable::KeyOverride key : {TypeTable::KeyOverride(nullptr), &every_key_collides}) {
    CAPTURE(key != nullptr);
    Types t(key);
    uint64_t i = t.base("int", 4, Encoding::Signed);
    uint64_t l = t.base("long int", 8, Encoding::Signed);
    // One definition: the declaration and pointers to it merge into it.
    uint64_t one_decl = t.declaration("one");
    uint64_t to_decl = t.pointer(one_decl);
    uint64_t one = t.structure("one", {{"v", i}});
    uint64_t to_def = t.pointer(one);
    // Two different definitions: which one a declaration means is unknown.
    uint64_t two_decl = t.declaration("two");
    uint64_t two_i = t.structure("two", {{"v", i}});
    uint64_t two_l = t.structure("two", {{"v", l}});
    // Only declared.
    uint64_t opaque = t.declaration("opaque");
    // x and y point to each other; in one unit x sees only y's declaration, in
    // another y sees only x's: each tag has one definition once the other's
    // declarations are resolved.
    uint64_t y_decl = t.declaration("y");
    uint64_t x1 = t.structure("x", {{"y", t.pointer(y_decl)}});
    uint64_t x_decl = t.declaration("x");
    uint64_t y1 = t.structure("y", {{"x", t.pointer(x_decl)}});
    // A typedef of the declaration and one of the definition: one type whose size
    // is the definition's.
    uint64_t one_t_decl = t.typedef_of("one_t", one_decl);
    uint64_t one_t_def = t.typedef_of("one_t", one);
    uint64_t x2 = t.next() + 3;  // after to_x2, y2 and the pointer to y2
    uint64_t to_x2 = t.pointer(x2);
    uint64_t y2 = t.structure("y", {{"x", to_x2}});
    CHECK(t.structure("x", {{"y", t.pointer(y2)}}) == x2);
    t.build();
    CHECK(t.id(one_decl) == t.id(one));
    CHECK(!t.type(one_decl).declaration);
    CHECK(t.id(to_decl) == t.id(to_def));
    CHECK(t.id(two_i) != t.id(two_l));
    CHECK(t.type(two_decl).declaration);
    CHECK(t.id(two_decl) != t.id(two_i));
    CHECK(t.id(two_decl) != t.id(two_l));
    CHECK(t.type(opaque).declaration);
    CHECK(t.id(one_t_decl) == t.id(one_t_def));
    CHECK(t.type(one_t_decl).size == 8);
    CHECK(t.id(x1) == t.id(x2));
    CHECK(t.id(y1) == t.id(y2));
    CHECK(t.id(x_decl) == t.id(x2));
    CHECK(t.id(y_decl) == t.id(y2));
  }
}

TEST_CASE("a real program's merged types: every key colliding changes nothing") {
  for (const char* name : {"types_gcc_O0", "types_clang_O2_nopie", "merge"}) {
    CAPTURE(name);
    Program p = load(P + name);
    for (TypeTable::KeyOverride key : {TypeTable::KeyOverride(nullptr), &every_key_collides}) {
      TypeTable table(key);
      std::vector<Type> again = rebuild(p, table);
      REQUIRE(again.size() == p.types.size());
      for (TypeId id = 1; id < p.types.size(); ++id) {
        CAPTURE(p.type_name(id));
        CHECK(table.type_of(id) == id);  // order kept, nothing merged, nothing split
        CHECK(again[id] == p.types[id]);
      }
    }
  }
}

TEST_CASE("three units: a cycle differing two hops away is two types, the rest one") {
  Program p = load(P + "merge");
  // struct list (cyclic) is the same in all three units.
  CHECK(global_type(p, "list_a") == global_type(p, "list_b"));
  CHECK(global_type(p, "list_a") == global_type(p, "list_c"));
  CHECK(count_structs(p, "list") == 1);
  TypeId list = global_type(p, "list_a");
  CHECK(pointee(p, list, "next") == list);
  // struct ring_a is spelled the same in both units, but its ring_c differs.
  TypeId ra = global_type(p, "merge_a.c::ring"), rb = global_type(p, "merge_b.c::ring");
  CHECK(ra != rb);
  TypeId ca = pointee(p, pointee(p, ra, "b"), "c"), cb = pointee(p, pointee(p, rb, "b"), "c");
  CHECK(p.type_name(member(p, ca, "x").type) == "int");
  CHECK(p.type_name(member(p, cb, "x").type) == "long int");
  CHECK(pointee(p, ca, "a") == ra);  // each cycle closes on itself
  CHECK(pointee(p, cb, "a") == rb);
  CHECK(count_structs(p, "ring_a") == 2);
  // peer_x and peer_y: declared in some units, defined once each.
  CHECK(count_structs(p, "peer_x") == 1);
  CHECK(count_structs(p, "peer_y") == 1);
  TypeId px = global_type(p, "px"), py = global_type(p, "py_b");
  CHECK(global_type(p, "py_c") == py);
  CHECK(pointee(p, px, "y") == py);
  CHECK(pointee(p, py, "x") == px);
  CHECK(!p.type(pointee(p, global_type(p, "py_c"), "x")).declaration);
  // typedef struct peer_y peer_y_t: of the declaration in one unit, of the
  // definition in another; one type, the definition's size.
  TypeId pyt = global_type(p, "pyt_b");
  CHECK(p.type(pyt).kind == TypeKind::Typedef);
  CHECK(p.type(pyt).size == 8);
  CHECK(p.global("pyt_b")->size == 8);
  CHECK(p.type(global_type(p, "pyp_a")).target == pyt);
}
