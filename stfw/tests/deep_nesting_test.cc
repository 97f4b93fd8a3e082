// deep_nesting_test.cc — the engine's nesting limit (kMaxNesting, 64) on the host:
// state nested 40 levels deep (stfw/tests/programs/deep, -DDEPTH=40) is transferred
// to its bottom exactly — a changed member 40 structs down, a pointer there, an
// interior pointer to it, an unchanged 40-level struct copied as it is, a heap
// object whose type is a chain of 40 unnamed pointers; 70 levels deep, the same
// state is refused by name ("too deep"), never cut off (the engine used to stop at
// 30 levels and leave the rest untransferred, map a pointer to offset 0, and find
// no v2 type for a chain of 17 pointers), except an unchanged struct without
// pointers, which is copied whole however deep.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "stfw/stfw_task.h"
#include "stfw/tests/host_process.h"

using ttst::stfw::testing::HostProcess;
using ttst::stfw::testing::run_transfer;
using ttst::stfw::testing::TransferRun;

namespace {

// Both programs' bottom structs: v1 L0 {int pad; int v; int *p;}, v2 L0 {int pad;
// long extra; long v; int *p;}; K0 {int pad; int v;} in both. Every level above is
// `struct { struct below in; }`, so the bottom sits at the top's offset 0.
constexpr uint64_t kV1BottomV = 4, kV1BottomP = 8, kV2BottomV = 16, kV2BottomP = 24, kKeptV = 4;
constexpr uint64_t kHeapDesc = 0xe000;  // where P's one heap object's descriptor lies

// Env::alloc: F's one heap object, at a fixed place of F's buffer.
uint64_t f_heap_object = 0;
uint64_t alloc_in_f(void*, uint64_t, uint64_t, uint64_t) { return f_heap_object; }

struct Deep {
  HostProcess p, f;
  // `variant`: "40", "70" or "70_unchanged" (no `deep`); into is left NULL.
  explicit Deep(const std::string& variant)
      : p(("stfw/tests/programs/deep/deep" + variant + "_v1").c_str()),
        f(("stfw/tests/programs/deep/deep" + variant + "_v2").c_str()) {
    f_heap_object = f.bias() + kHeapDesc;
    p.put<int>("kept", kKeptV, 777);
    if (p.v.global("deep")) {
      p.put<int>("deep", kV1BottomV, -12345);
      p.put<uint64_t>("deep", kV1BottomP, p.addr("target"));
    }
  }
  // chain = P's one heap object, 8 bytes (a NULL int *...*), typed through chain.
  void point_chain_at_heap_object() {
    uint8_t* payload = p.add_heap_object(kHeapDesc, 8, 5);
    p.put<uint64_t>("chain", 0, reinterpret_cast<uint64_t>(payload));
  }
  TransferRun forward() { return run_transfer(p, f, {.alloc = &alloc_in_f}); }
};

std::string ins(int n) {
  std::string path;
  for (int i = 0; i < n; ++i) path += ".in";
  return path;
}

}  // namespace

TEST_CASE("state nested 40 levels deep is transferred to its bottom") {
  Deep d("40");
  d.p.put<uint64_t>("into", 0, d.p.addr("deep", kV1BottomV));
  d.point_chain_at_heap_object();
  TransferRun run = d.forward();
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  CHECK(d.f.get<long>("deep", kV2BottomV) == -12345);                   // moved and widened
  CHECK(d.f.get<uint64_t>("deep", kV2BottomP) == d.f.addr("target"));  // translated
  CHECK(d.f.get<int>("kept", kKeptV) == 777);                           // copied as it is
  CHECK(d.f.get<uint64_t>("into") == d.f.addr("deep", kV2BottomV));     // the same member
  CHECK(d.f.get<uint64_t>("chain") == f_heap_object);                   // typed by its counterpart
}

TEST_CASE("a changed struct nested 70 levels deep is refused by name, never cut off") {
  Deep d("70");
  TransferRun run = d.forward();
  CHECK(run.r.status == TTST_STFW_STATUS_AMBIGUOUS);
  CHECK(run.msg == "too deep: deep" + ins(64) +
                       " holds members nested more than 64 levels deep, further than the transfer follows: "
                       "needs transfer code");
}

TEST_CASE("70 levels deep: flat state copied whole; a pointer into it, a 70-pointer type refused") {
  Deep d("70_unchanged");
  SUBCASE("the unchanged struct alone: copied as it is") {
    TransferRun run = d.forward();
    INFO(run.msg);
    REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
    CHECK(d.f.get<int>("kept", kKeptV) == 777);
  }
  SUBCASE("a pointer to its bottom member") {
    d.p.put<uint64_t>("into", 0, d.p.addr("kept", kKeptV));
    TransferRun run = d.forward();
    CHECK(run.r.status == TTST_STFW_STATUS_AMBIGUOUS);
    CHECK(run.msg ==
          "too deep: into points into a value nested more than 64 levels deep, further than the transfer follows: "
          "needs transfer code");
  }
  SUBCASE("a heap object of type int *...* (70 pointers), void * in v2") {
    d.point_chain_at_heap_object();
    TransferRun run = d.forward();
    CHECK(run.r.status == TTST_STFW_STATUS_AMBIGUOUS);
    CHECK(run.msg ==
          "too deep: chain has a type whose unnamed pointers, arrays or qualifiers nest more than 64 levels deep, "
          "further than the transfer follows: needs transfer code");
  }
}
