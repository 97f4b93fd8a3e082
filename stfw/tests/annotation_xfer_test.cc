// annotation_xfer_test.cc — the ttst.h transfer annotations applied by the state
// transfer on real processes (stfw/tests/programs/annotated): PXFER on a long
// member, a union member and a uintptr_t global; IXFER on a void * (written in
// v1); NO_TRANSFER on a descriptor and on a global whose type changed kind;
// RENAMED_FROM on a global and a member. P -> F -> R must give R == P byte for byte
// and F v1's state as the annotations say. Then a table of refusals: without the
// annotation a kind change is refused; an annotation that names nothing is bad input.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "dwarfmeta/image.h"
#include "inject/memory.h"
#include "inject/tests/test_util.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/transfer_checks.h"
#include "stfw/tests/xfer_fixture.h"

using namespace ttst;
using namespace ttst::stfw::testing;

namespace {

std::string prog(const std::string& name) {
  return inject::testing::runfile("stfw/tests/programs/annotated/" + name);
}

inject::AgentOutcome forward_to(RoundTrip& rt, const std::string& v2) {
  rt.v1 = prog("annotated_v1");
  rt.v2 = prog(v2);
  rt.start();
  return rt.forward();
}

}  // namespace

TEST_CASE("annotations: PXFER, IXFER, NO_TRANSFER and RENAMED_FROM round trip, R == P") {
  RoundTrip rt;
  inject::AgentOutcome fw = forward_to(rt, "annotated_v2");
  require_transferred(fw);
  check_backward_restores_past(rt);
  // IXFER: F's `opaque` holds P's address as it was (never translated).
  dwarfmeta::image::View v1;
  const char* why = nullptr;
  REQUIRE(dwarfmeta::image::View::open(rt.img1.data(), rt.img1.size(), &v1, &why));
  std::vector<uint8_t> raw = inject::read_memory(rt.p, v1.global("opaque")->addr + ttst::stfw::testing::exe_bias(rt.p), 8);
  uint64_t p_opaque = 0;
  std::memcpy(&p_opaque, raw.data(), 8);
  char want[64];
  std::snprintf(want, sizeof want, " opaque:%lx ", static_cast<unsigned long>(p_opaque));
  std::string f = rt.release_future();
  INFO(f);
  // cookie (PXFER long) and u (PXFER union) point to F's objects; key arrived as
  // name; handle (PXFER uintptr_t) is F's &conns[1]; u.n = 77 kept as a number.
  CHECK(f.find("literal:1 fd:1 cookie:1 heap:11,heapkey peer:1 name:first n:77 name1:second handle:1 ") == 0);
  CHECK(f.find(want) != std::string::npos);
  // NO_TRANSFER: v2's own epfd and shape; RENAMED_FROM: old_total's value.
  CHECK(f.find(" epfd:9 total:42 shape:4,5") != std::string::npos);
}

// A v2 the forward transfer must refuse, and what the refusal says.
struct AnnotationRefusal {
  const char* name;
  const char* v2;
  Refusal want;
};

const AnnotationRefusal kAnnotationRefusals[] = {
    {"annotations: without NO_TRANSFER, a global whose type changed kind is refused", "annotated_v2_plain",
     {TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: shape changed from int to shape: needs transfer code"}},
    {"annotations: one that names nothing is bad input, never silently ignored", "annotated_v2_bad",
     {TTST_STFW_STATUS_BAD_INPUT, nullptr, "bad input: annotation TTST_IXFER(no_such_global) in ",
      {"annotated.c names nothing in v2's metadata: fix the annotation"}}},
    {"annotations: PXFER on something smaller than a pointer is bad input", "annotated_v2_small_pxfer",
     {TTST_STFW_STATUS_BAD_INPUT,
      "bad input: conns[0].fd is annotated TTST_PXFER but is smaller than a pointer: fix the annotation"}},
};

TEST_CASE("annotations refused: a kind change without one, one that names nothing, PXFER too small") {
  for_each_case(kAnnotationRefusals, [](const AnnotationRefusal& c) {
    RoundTrip rt;
    check_refusal(forward_to(rt, c.v2), c.want);
  });
}
