// plan_test — the v1 -> v2 plan: the paper's Listing 2 with gcc and clang at -O0
// and -O2 with DWARF 4 and 5 (and across compilers), every classification of
// Table 2, pointer ambiguity, the `ttst-meta` command's exit statuses and JSON
// contract; changes found at any depth (40 nested structs, 70 pointer levels) and
// broken self-containing types never taken as unchanged.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "dwarfmeta/load.h"
#include "dwarfmeta/plan.h"

using namespace ttst::dwarfmeta;

namespace {

const std::string P = "dwarfmeta/tests/programs/";
const std::string L2 = "tests/programs/listing2/";

const Change* find(const PlanObject& o, const std::string& path, const std::string& what) {
  for (const Change& c : o.changes)
    if (c.path == path && c.what == what) return &c;
  return nullptr;
}

const PlanObject& object(const Plan& plan, const std::string& id) {
  const PlanObject* o = plan.object(id);
  REQUIRE_MESSAGE(o != nullptr, "no plan object " << id);
  return *o;
}

void check_listing2(const std::string& v1, const std::string& v2) {
  CAPTURE(v1);
  CAPTURE(v2);
  Plan plan = make_plan(load(L2 + v1), load(L2 + v2));
  const PlanObject& var = object(plan, "var");
  CHECK(var.kind == ObjectKind::Structural);
  CHECK(var.type_v1 == "struct s");
  const Change* str = find(var, "str", "truncated");
  REQUIRE(str != nullptr);
  CHECK(str->from == "char[3]");
  CHECK(str->to == "char[2]");
  const Change* id = find(var, "id", "widened");
  REQUIRE(id != nullptr);
  CHECK(id->from == "short int");
  CHECK(id->to == "int");
  const Change* moved = find(var, "id", "moved");
  REQUIRE(moved != nullptr);
  CHECK(moved->from == "offset 8");
  CHECK(moved->to == "offset 4");
  CHECK(find(var, "ptr", "dropped") != nullptr);
  const Change* inner = find(var, "inner_ptr", "retargeted");
  REQUIRE(inner != nullptr);
  CHECK(inner->from == "short int *");
  CHECK(inner->to == "int *");
  for (const Change& c : var.changes) {
    CHECK(c.path.rfind("u", 0) != 0);  // union u u: unchanged
    CHECK(c.path != "count");
    CHECK(!c.semantic);
  }
  // void *ptr is ambiguous in v1 but dropped in v2: nothing is left to annotate.
  CHECK(var.ambiguities.empty());
  CHECK(object(plan, "ids").kind == ObjectKind::Structural);
  CHECK(!plan.needs_user_code());
}

// Runs ttst-meta; returns its exit status and fills stdout/stderr.
int run(const std::string& args, std::string& out, std::string& err) {
  // The command caches images by build-id: keep its cache inside the test's tmpdir.
  if (const char* tmp = std::getenv("TEST_TMPDIR")) setenv("XDG_CACHE_HOME", tmp, 1);
  std::string cmd = "dwarfmeta/ttst-meta " + args + " 2>/tmp/ttst-meta-test.err";
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  out.clear();
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int status = pclose(f);
  err.clear();
  if (FILE* e = fopen("/tmp/ttst-meta-test.err", "r")) {
    while ((n = fread(buf, 1, sizeof buf, e)) > 0) err.append(buf, n);
    fclose(e);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("Listing 2: gcc -O0, DWARF 5") { check_listing2("v1_gcc_O0_dwarf5", "v2_gcc_O0_dwarf5"); }
TEST_CASE("Listing 2: gcc -O2, DWARF 4") { check_listing2("v1_gcc_O2_dwarf4", "v2_gcc_O2_dwarf4"); }
TEST_CASE("Listing 2: clang -O0, DWARF 4") { check_listing2("v1_clang_O0_dwarf4", "v2_clang_O0_dwarf4"); }
TEST_CASE("Listing 2: clang -O2, DWARF 5") { check_listing2("v1_clang_O2_dwarf5", "v2_clang_O2_dwarf5"); }
TEST_CASE("Listing 2: v1 from gcc -O0 to v2 from clang -O2") {
  check_listing2("v1_gcc_O0_dwarf5", "v2_clang_O2_dwarf5");
}

TEST_CASE("a version against itself is unchanged throughout") {
  Plan plan = make_plan(load(L2 + "v1"), load(L2 + "v1_gcc_O2_dwarf4"));
  for (const PlanObject& o : plan.objects) {
    CAPTURE(o.id);
    if (o.what == "global") CHECK(o.kind == ObjectKind::Unchanged);
    CHECK(o.changes.empty());
  }
}

TEST_CASE("every Table 2 classification") {
  Plan plan = make_plan(load(P + "sem_v1"), load(P + "sem_v2"));
  CHECK(plan.needs_user_code());
  // Semantic: struct -> int, pointer -> integer, int -> float, union with pointers.
  CHECK(object(plan, "to_int").kind == ObjectKind::Semantic);
  CHECK(find(object(plan, "to_int"), "", "type-changed") != nullptr);
  CHECK(object(plan, "p2i").kind == ObjectKind::Semantic);
  CHECK(find(object(plan, "p2i"), "", "pointer-integer") != nullptr);
  CHECK(object(plan, "ratio").kind == ObjectKind::Semantic);
  CHECK(find(object(plan, "ratio"), "", "converted") != nullptr);
  CHECK(object(plan, "tagged").kind == ObjectKind::Semantic);
  CHECK(find(object(plan, "tagged"), "", "union-changed") != nullptr);
  // A pointer to char becoming a pointer to a struct: its objects need rebuilding.
  CHECK(object(plan, "blob_ref").kind == ObjectKind::Semantic);
  const Change* blob = find(object(plan, "blob_ref"), "", "retargeted");
  REQUIRE(blob != nullptr);
  CHECK(blob->semantic);
  // struct -> int, but v2 says NO_TRANSFER: nothing to write code for.
  const PlanObject& out = object(plan, "kept_out");
  CHECK(out.kind == ObjectKind::Structural);
  CHECK(find(out, "", "not-transferred") != nullptr);
  for (const Change& c : out.changes) CHECK(!c.semantic);
  // void * -> long on a member annotated PXFER: listed, but no user code needed.
  const PlanObject& holder = object(plan, "holder");
  CHECK(holder.kind == ObjectKind::Structural);
  CHECK(find(holder, "h", "pointer-integer") != nullptr);
  CHECK(find(holder, "h", "translated-as-pointer") != nullptr);
  for (const Change& c : holder.changes) CHECK(!c.semantic);
  // Enums: renumbering is mapped by name, a dropped enumerator needs user code.
  const PlanObject& err = object(plan, "last_err");
  CHECK(err.kind == ObjectKind::Semantic);
  CHECK(find(err, "", "renumbered") != nullptr);
  CHECK(find(err, "", "enumerator-dropped") != nullptr);
  CHECK(find(err, "", "enumerator-added") != nullptr);
  // Structural: sign change, bitfield widened and moved.
  CHECK(object(plan, "flags_bits").kind == ObjectKind::Structural);
  CHECK(find(object(plan, "flags_bits"), "", "sign-changed") != nullptr);
  const PlanObject& bf = object(plan, "bf");
  CHECK(bf.kind == ObjectKind::Structural);
  CHECK(find(bf, "a", "widened") != nullptr);
  CHECK(find(bf, "b", "bitfield-moved") != nullptr);
  // Unchanged, renamed, dropped, added.
  CHECK(object(plan, "kept").kind == ObjectKind::Unchanged);
  const PlanObject& renamed = object(plan, "new_name");
  CHECK(renamed.kind == ObjectKind::Unchanged);
  CHECK(renamed.old_id == "old_name");
  CHECK(plan.object("old_name") == nullptr);
  CHECK(object(plan, "gone").kind == ObjectKind::Dropped);
  CHECK(object(plan, "fresh").kind == ObjectKind::Added);
  // Ambiguity: intptr_t is resolved by v2's IXFER annotation (on both sides); a
  // union holding a pointer reached through a pointer is flagged; so is the same
  // intptr_t when v2 carries no annotation.
  CHECK(object(plan, "cookie").ambiguities.empty());
  bool cookie = false;
  Plan reverse = make_plan(load(P + "sem_v2"), load(P + "sem_v1"));
  for (const Ambiguity& a : object(reverse, "cookie").ambiguities)
    cookie |= a.why == "pointer-sized integer intptr_t" && a.path.empty();
  CHECK(cookie);
  bool item = false;
  for (const Ambiguity& a : object(plan, "items").ambiguities)
    item |= a.path == "->v" && a.why == "union with pointer members";
  CHECK(item);
}

TEST_CASE("ttst-meta: exit statuses, JSON contract, one-line errors") {
  std::string out, err;
  CHECK(run("plan " + L2 + "v1 " + L2 + "v2", out, err) == 0);
  CHECK(out.find("structural") != std::string::npos);
  CHECK(out.find("str: truncated char[3] -> char[2]") != std::string::npos);

  REQUIRE(run("plan --json " + L2 + "v1 " + L2 + "v2", out, err) == 0);
  auto j = nlohmann::json::parse(out);
  REQUIRE(j["objects"].is_array());
  bool var = false;
  for (const auto& o : j["objects"]) {
    CHECK(o.contains("id"));
    CHECK(o.contains("kind"));
    CHECK(o["changes"].is_array());
    if (o["id"] == "var") {
      var = true;
      CHECK(o["kind"] == "structural");
      CHECK(o["changes"].size() >= 5);
    }
  }
  CHECK(var);

  CHECK(run("plan " + P + "sem_v1 " + P + "sem_v2", out, err) == 3);
  CHECK(out.find("needs user transfer code") != std::string::npos);
  CHECK(run("plan --json " + P + "sem_v1 " + P + "sem_v2", out, err) == 3);
  CHECK(nlohmann::json::parse(out)["needs_user_code"] == true);

  CHECK(run("dump " + L2 + "v1", out, err) == 0);
  CHECK(out.find("struct s {") != std::string::npos);
  CHECK(out.find("short int *inner_ptr;") != std::string::npos);
  CHECK(run("dump --json " + L2 + "v1", out, err) == 0);
  CHECK(nlohmann::json::parse(out)["globals"].size() == 2);

  for (const char* bad : {"not_elf", "not_x86", "no_dwarf", "missing-file"}) {
    CAPTURE(bad);
    CHECK(run("dump " + P + bad, out, err) == 2);
    CHECK(out.empty());
    CHECK(err.find("ttst-meta: ") == 0);
    CHECK(err.find('\n') == err.size() - 1);
  }
  CHECK(run("plan " + P + "no_dwarf " + L2 + "v2", out, err) == 2);
  CHECK(err.find("built without -g: rebuild with ttst-cc or -g") != std::string::npos);
  CHECK(run("frobnicate", out, err) == 1);

  // The image: to a file, readable by the freestanding reader; or the cache path.
  CHECK(run("image -o /tmp/ttst-meta-test.img " + L2 + "v1", out, err) == 0);
  CHECK(run("--no-cache dump " + L2 + "v1", out, err) == 0);
  CHECK(out.find("struct s {") != std::string::npos);
  CHECK(run("image " + L2 + "v1", out, err) == 0);
  CHECK(out.find(".img\n") != std::string::npos);
  CHECK(run("image " + P + "not_elf", out, err) == 2);
}

namespace {

// "in.in. ... .in." n times.
std::string nested(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "in.";
  return s;
}

// A program of hand-built types with one global `g` of type `type`.
Program program_with(std::vector<Type> types, TypeId type) {
  Program p;
  p.types = std::move(types);
  Global g;
  g.id = g.name = "g";
  g.type = type;
  p.globals.push_back(g);
  p.reindex();
  return p;
}

Type base(const char* name, uint64_t size) {
  Type t;
  t.kind = TypeKind::Base, t.name = name, t.size = size, t.encoding = Encoding::Signed;
  return t;
}

}  // namespace

TEST_CASE("a change 40 levels deep is found, however deep, and decides the verdict") {
  Plan plan = make_plan(load(P + "deep_v1"), load(P + "deep_v2"));
  CHECK(plan.needs_user_code());
  const PlanObject& deep = object(plan, "deep");
  CHECK(deep.kind == ObjectKind::Semantic);
  const Change* v = find(deep, nested(40) + "v", "converted");
  REQUIRE(v != nullptr);
  CHECK(v->from == "int");
  CHECK(v->to == "float");
  CHECK(find(deep, nested(40) + "u", "union-changed") != nullptr);
  // The same under a cyclic type that holds it in place.
  const PlanObject& ring = object(plan, "ring");
  CHECK(ring.kind == ObjectKind::Semantic);
  CHECK(find(ring, "body." + nested(40) + "v", "converted") != nullptr);
  CHECK(ring.changes.size() == 2);
  // The same nesting, unchanged.
  CHECK(object(plan, "kept").kind == ObjectKind::Unchanged);
  CHECK(object(plan, "kept").changes.empty());
  // And a version against itself.
  Plan same = make_plan(load(P + "deep_v2"), load(P + "deep_v2"));
  for (const PlanObject& o : same.objects) {
    CAPTURE(o.id);
    CHECK(o.kind == ObjectKind::Unchanged);
    CHECK(o.changes.empty());
  }
}

TEST_CASE("pointers 70 levels deep are compared to the end") {
  // g: int ***...* (70 levels) in v1, long ***...* in v2.
  auto chain = [](const char* name, uint64_t size) {
    std::vector<Type> types(1);
    types.push_back(base(name, size));
    for (int i = 0; i < 70; ++i) {
      Type ptr;
      ptr.kind = TypeKind::Pointer, ptr.size = 8, ptr.target = static_cast<TypeId>(types.size() - 1);
      types.push_back(ptr);
    }
    return program_with(types, static_cast<TypeId>(types.size() - 1));
  };
  Plan plan = make_plan(chain("int", 4), chain("long int", 8));
  const PlanObject& g = object(plan, "g");
  CHECK(g.kind == ObjectKind::Structural);
  const Change* c = find(g, "", "retargeted");
  REQUIRE(c != nullptr);
  CHECK(c->to == "long int " + std::string(70, '*'));
  CHECK(object(make_plan(chain("int", 4), chain("int", 4)), "g").kind == ObjectKind::Unchanged);
}

TEST_CASE("broken DWARF: a type that contains itself is never taken as unchanged") {
  // struct loop { struct loop self; } and a pointer chain that loops: both only
  // from broken debug info; the plan must neither hang nor call them unchanged.
  Type loop;
  loop.kind = TypeKind::Struct, loop.name = "loop", loop.size = 8;
  loop.members.push_back(Member{"self", 1, 0});
  Program v = program_with({Type{}, loop}, 1);
  Plan plan = make_plan(v, v);
  const PlanObject& g = object(plan, "g");
  CHECK(g.kind == ObjectKind::Semantic);
  CHECK(find(g, "self", "type-changed") != nullptr);

  Type p1, p2;
  p1.kind = p2.kind = TypeKind::Pointer, p1.size = p2.size = 8;
  p1.target = 2, p2.target = 1;
  Program w = program_with({Type{}, p1, p2}, 1);
  CHECK(w.type_name(1) == Program::kUnspellable);
  CHECK(object(make_plan(w, w), "g").kind == ObjectKind::Semantic);
}

// Carved containers (TTST_SLAB / TTST_CONTAINER, stfw/tests/programs/carve): a
// sub-object type that changes layout cannot stay at its offset: the plan says so
// before any process is touched (exit 3), naming the type; unchanged, it is automatic.
TEST_CASE("ttst-meta plan: a carved sub-object type whose layout changed needs transfer code (exit 3)") {
  const std::string C = "stfw/tests/programs/carve/";
  std::string out, err;
  CHECK(run("plan " + C + "carve_v1 " + C + "carve_v2", out, err) == 0);
  CHECK(out.find("fully automatic") != std::string::npos);
  REQUIRE(run("plan " + C + "carve_v1 " + C + "carve_v2_cas", out, err) == 3);
  INFO(out);
  CHECK(out.find("semantic    carved     item ") != std::string::npos);
  CHECK(out.find("! (value): layout-changed sub-object of carved containers (slabclass_t.slab_list) -> stays at its "
                 "offset: needs transfer code") != std::string::npos);
  CHECK(out.find("cas: added uint64_t cas") != std::string::npos);
  // the same plugin functions the transfer's refusal of it names (carve_xfer_test)
  CHECK(out.find("    fix: write fwd_struct__stritem and bwd_struct__stritem in a transfer plugin") != std::string::npos);
  Plan plan = make_plan(load(C + "carve_v1"), load(C + "carve_v2_cas"));
  CHECK(object(plan, "item").kind == ObjectKind::Semantic);
  CHECK(object(plan, "node").kind == ObjectKind::Unchanged);
}

// A member dropped while one of its type is added (stfw/tests/programs/blind:
// struct account.next renamed nxt; balance dropped and credit added): a suspected
// rename, semantic (exit 3) naming the struct and both members, unless v2's
// TTST_RENAMED_FROM (a rename, automatic) or TTST_DROPPED (a drop) says which.
TEST_CASE("ttst-meta plan: a suspected member rename needs an annotation (exit 3), RENAMED_FROM or DROPPED say which") {
  const std::string B = "stfw/tests/programs/blind/";
  std::string out, err;
  REQUIRE(run("plan " + B + "blind_v1 " + B + "blind_v2_rename", out, err) == 3);
  INFO(out);
  CHECK(out.find("next: suspected-rename struct account.next -> struct account.nxt (both struct account *): annotate "
                 "TTST_RENAMED_FROM(struct account.nxt, next) or TTST_DROPPED(struct account.next)") != std::string::npos);
  // The fix, worded as the transfer's refusal words it (stfw/xfer/advice_text.h); blind_v2_renamed_from
  // holds that line and passes below.
  CHECK(out.find("    fix: add TTST_RENAMED_FROM(struct account.nxt, next); to the new version (ttst.h; or ttst-cc's "
                 "TTST_ANNOTATIONS=\"RENAMED_FROM(struct account.nxt, next)\")") != std::string::npos);
  CHECK(out.find("    fix: add TTST_DROPPED(struct account.next); to the new version") != std::string::npos);
  CHECK(run("plan " + B + "blind_v1 " + B + "blind_v2_drop", out, err) == 3);
  CHECK(out.find("balance: suspected-rename struct account.balance -> struct account.credit (both long int)") !=
        std::string::npos);
  CHECK(run("plan " + B + "blind_v1 " + B + "blind_v2_renamed_from", out, err) == 0);
  CHECK(out.find("suspected-rename") == std::string::npos);
  CHECK(run("plan " + B + "blind_v1 " + B + "blind_v2_dropped", out, err) == 0);
  CHECK(out.find("suspected-rename") == std::string::npos);
  CHECK(run("plan " + B + "blind_v1 " + B + "blind_v2_dropped_cc", out, err) == 0);  // via TTST_ANNOTATIONS
  CHECK(out.find("suspected-rename") == std::string::npos);
  Plan renamed = make_plan(load(B + "blind_v1"), load(B + "blind_v2_renamed_from"));
  CHECK(object(renamed, "struct account").kind == ObjectKind::Unchanged);  // listed: its member renamed
  CHECK(find(object(renamed, "struct account"), "nxt", "renamed") != nullptr);
  Plan suspected = make_plan(load(B + "blind_v1"), load(B + "blind_v2_rename"));
  CHECK(object(suspected, "struct account").kind == ObjectKind::Semantic);
  CHECK(object(suspected, "struct account").what == "type");
}

// Heap types (stfw/tests/programs/blind: records.c, table.c): the structs the state
// reaches through pointers, site hints and POINTS_TO are listed with their
// member-level changes; only those are checked (records.c's struct scratch, a
// local's type, renames a member in v2 and is not reported); an array of pointers
// whose length changes (table.c's global buckets) needs transfer code.
TEST_CASE("ttst-meta plan: heap types listed with member changes; only reached types checked; pointer arrays resized") {
  const std::string B = "stfw/tests/programs/blind/";
  std::string out, err;
  // A site whose result goes to a typed local first (-O0) has that type as its hint.
  Program records = load(B + "records_v1");
  const AllocSite* site = nullptr;
  for (const AllocSite& s : records.alloc_sites)
    if (s.id == "records.c::make_record#0") site = &s;
  REQUIRE(site != nullptr);
  CHECK(records.type_name(site->type) == "struct rec");
  CHECK(run("plan " + B + "records_v1 " + B + "records_v2_reorder", out, err) == 0);
  INFO(out);
  CHECK(out.find("structural  type       struct rec ") != std::string::npos);
  CHECK(out.find("id: moved offset 0 -> offset 12") != std::string::npos);
  CHECK(out.find("scratch") == std::string::npos);  // not state: not checked (the old plan said exit 3)
  Plan widened = make_plan(records, load(B + "records_v2_widen"));
  const Change* id = find(object(widened, "struct rec"), "id", "widened");
  REQUIRE(id != nullptr);
  CHECK(id->from == "int");
  CHECK(id->to == "long int");
  CHECK(!widened.needs_user_code());
  REQUIRE(run("plan " + B + "table_v1 " + B + "table_v2_global_grown", out, err) == 3);
  CHECK(out.find("semantic    global     table ") != std::string::npos);
  CHECK(out.find("! (value): pointer-array-resized struct entry *[8] -> struct entry *[16]") != std::string::npos);
  CHECK(out.find("    fix: add TTST_NO_TRANSFER(table); to the new version") != std::string::npos);  // as _kept has it
  // Annotated (NO_TRANSFER: v2 keeps its own table): no transfer code needed.
  CHECK(run("plan " + B + "table_v1 " + B + "table_v2_global_grown_kept", out, err) == 0);
  CHECK(out.find("not-transferred") != std::string::npos);
  // A heap array's length is a run-time value: the plan cannot see it (the transfer refuses).
  CHECK(run("plan " + B + "table_v1 " + B + "table_v2_heap_grown", out, err) == 0);
}

// Every semantic object's fix names a line: the plugin functions it names are those
// `ttst-meta xfer-skeleton` writes (one choice of target, plan_fixes.h), so the plan's
// advice and the skeleton agree.
TEST_CASE("ttst-meta plan: each semantic object has a fix; its plugin functions are the skeleton's") {
  Plan plan = make_plan(load(P + "sem_v1"), load(P + "sem_v2"));
  REQUIRE(plan.needs_user_code());
  std::string out, err;
  const std::string dir = std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp";
  REQUIRE(run("xfer-skeleton " + P + "sem_v1 " + P + "sem_v2 --force --out " + dir, out, err) == 0);
  std::ifstream in(dir + "/xfer.c");
  const std::string skeleton((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(!skeleton.empty());
  int plugins = 0;
  for (const PlanObject& o : plan.objects) {
    if (o.kind != ObjectKind::Semantic) continue;
    INFO(o.id);
    CHECK(!o.fixes.empty());
    for (const std::string& fix : o.fixes) {
      if (fix.rfind("write fwd_", 0) != 0) continue;
      const std::string fwd = fix.substr(6, fix.find(' ', 6) - 6);
      CHECK(skeleton.find("static int " + fwd + "(") != std::string::npos);
      ++plugins;
    }
  }
  CHECK(plugins > 0);
}
