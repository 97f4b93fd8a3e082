// site_hints_test — allocation sites' type hints at -O2 (dwarfmeta/site_hints.h) on
// stfw/tests/programs/blind/records.c built with -O2: make_record is inlined into
// main and its local `struct rec *r` lives in registers (a location list); the
// machine code moves malloc's result from rax to rbx, where DWARF places r: the
// site's type is proven (site_receiver.h). A second struct pointer (-DNOTE=n) that
// the site's constant size (DWARF's call site: malloc(20)) rules out changes
// nothing; two proven receivers that fit stay candidates, which the plan reports
// (semantic) when one changes layout. buffers.c: `c->buf = malloc(24)` stored into a
// void * member, with an unrelated `struct foo *f` assigned later: foo is only a
// suspect (never the type), left by the plan to the transfer.
#include <doctest/doctest.h>

#include <string>

#include "dwarfmeta/image_writer.h"
#include "dwarfmeta/load.h"
#include "dwarfmeta/plan.h"

using namespace ttst::dwarfmeta;

namespace {

const std::string B = "stfw/tests/programs/blind/";

Program load_fresh(const std::string& name) { return load(B + name); }

// The one malloc site of `caller` (the runtime's own sites are inside allocation wrappers).
const AllocSite& record_site(const Program& p, const std::string& caller = "main") {
  const AllocSite* found = nullptr;
  for (const AllocSite& s : p.alloc_sites)
    if (s.caller == caller && s.allocator == "malloc") found = &s;
  REQUIRE(found != nullptr);
  return *found;
}

const PlanObject* plan_object(const Plan& plan, const std::string& id) {
  for (const PlanObject& o : plan.objects)
    if (o.id == id) return &o;
  return nullptr;
}

}  // namespace

TEST_CASE("-O2: the inlined site's local, where the code moves the result (rax -> rbx), types the record") {
  Program p = load_fresh("records_v1_o2");
  const AllocSite& s = record_site(p);
  CHECK(s.id == "main#0");  // make_record inlined
  REQUIRE(s.type != kVoid);
  CHECK(p.type_name(p.strip(s.type)) == "struct rec");
  CHECK(s.size == 20);
  CHECK(s.candidates.empty());
}

TEST_CASE("-O2: a second struct pointer in scope that the size rules out leaves the proven type") {
  Program p = load_fresh("records_v1_o2_note7");
  const AllocSite& s = record_site(p);
  REQUIRE(s.type != kVoid);
  CHECK(p.type_name(p.strip(s.type)) == "struct rec");
  CHECK(s.candidates.empty());
}

TEST_CASE("-O2: two struct pointers that both fit stay candidates, through the metadata image too") {
  Program p = load_fresh("records_v1_o2_note4");
  const AllocSite& s = record_site(p);
  CHECK(s.type == kVoid);
  REQUIRE(s.candidates.size() == 2);
  CHECK(p.type_name(p.strip(s.candidates[0])) == "struct rec");
  CHECK(p.type_name(p.strip(s.candidates[1])) == "struct note");
  const std::vector<uint8_t> image = write_image(p);
  Program q = read_image(image.data(), image.size());
  CHECK(q.alloc_sites == p.alloc_sites);
}

TEST_CASE("-O2: a void * receiving the result first, then the struct pointer: the struct pointer proves the type") {
  Program p = load_fresh("records_v1_o2_bytes");
  const AllocSite& s = record_site(p);
  REQUIRE(s.type != kVoid);
  CHECK(p.type_name(p.strip(s.type)) == "struct rec");
  CHECK(s.candidates.empty());
  CHECK(!make_plan(p, load_fresh("records_v2_o2_bytes_reorder")).needs_user_code());  // transformed
}

TEST_CASE("-O2: a byte buffer stored into a void * member, a struct pointer assigned later: a suspect, no type") {
  Program p = load_fresh("buffers_v1_o2");
  const AllocSite& s = record_site(p, "buffers.c::open_conn");
  CHECK(s.type == kVoid);  // on the previous main: struct foo (the one pointer in scope that fits)
  REQUIRE(s.candidates.size() == 1);
  CHECK(p.type_name(p.strip(s.candidates[0])) == "struct foo");
  CHECK(!s.uncertain);
  CHECK(s.size == 24);
  const AllocSite& foo = record_site(p, "buffers.c::make_foo");  // f receives that one: proven
  REQUIRE(foo.type != kVoid);
  CHECK(p.type_name(p.strip(foo.type)) == "struct foo");
  // One suspect: left to the transfer (records reached through a typed pointer are
  // typed by it there; one reached only through char * is refused), not planned.
  Plan plan = make_plan(p, load_fresh("buffers_v2_o2_reorder"));
  CHECK(!plan.needs_user_code());
  const PlanObject* site = plan_object(plan, "buffers.c::open_conn#0");
  CHECK((site == nullptr || site->kind != ObjectKind::Semantic));
}

TEST_CASE("plan: candidates of which one changes layout are semantic, naming them, with each one's plugin fix") {
  Plan plan = make_plan(load_fresh("records_v1_o2_note4"), load_fresh("records_v2_o2_note4_reorder"));
  CHECK(plan.needs_user_code());
  const PlanObject* site = plan_object(plan, "main#0");
  REQUIRE(site != nullptr);
  CHECK(site->kind == ObjectKind::Semantic);
  REQUIRE(site->changes.size() == 1);
  CHECK(site->changes[0].text() ==
        "(value): site-candidates one of struct rec, struct note -> struct rec changes layout");
  REQUIRE(site->fixes.size() == 2);
  CHECK(site->fixes[0].find("fwd_struct_rec and bwd_struct_rec") != std::string::npos);
  CHECK(site->fixes[1].find("fwd_struct_note and bwd_struct_note") != std::string::npos);
  // No candidate changes: the records are copied as bytes, nothing to do.
  CHECK(!make_plan(load_fresh("records_v1_o2_note4"), load_fresh("records_v2_o2_note4_same")).needs_user_code());
  // One proven type: transformed (structural), no user code.
  Plan reorder = make_plan(load_fresh("records_v1_o2"), load_fresh("records_v2_o2_reorder"));
  CHECK(!reorder.needs_user_code());
  const PlanObject* rec = plan_object(reorder, "struct rec");
  REQUIRE(rec != nullptr);
  CHECK(rec->kind == ObjectKind::Structural);
}
