// backward_match_test.cc — the backward transfer's pairing of F's heap objects with
// R's (F's origin_id X onto R's dyn_id X) on the host, without processes: F's copy
// and R's memory are buffers laid out at the programs' link addresses plus a bias,
// each with a runtime block whose stripe 0 lists hand-made heap objects. The engine
// first merges R's walk with its table in order, then hashes R's objects for what
// the merge left: both paths, and their mix, must pair every object by ID.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "stfw/abi/ttst_abi.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/host_process.h"
#include "stfw/xfer/engine.h"

using ttst::stfw::testing::HostProcess;
using ttst::stfw::testing::run_transfer;
using ttst::stfw::testing::TransferRun;
using ttst::stfw::Result;

namespace {

constexpr uint64_t kMem = HostProcess::kMemSize, kHeap = 0xc000, kPayload = 32;

// F or R in a host buffer, with heap objects added by hand.
struct Side : HostProcess {
  uint64_t heap_used = 0;
  explicit Side(const char* path) : HostProcess(path) {
    for (uint32_t i = 0; i < v.global_count(); ++i) REQUIRE(v.global_at(i).addr + v.global_at(i).size <= kHeap);
  }
  // A heap object at the end of stripe 0's list (walked last), payload words = `fill`.
  uint64_t* add(uint64_t dyn_id, uint64_t origin_id, uint64_t fill) {
    auto* words = reinterpret_cast<uint64_t*>(add_heap_object(kHeap + heap_used, kPayload, dyn_id, origin_id));
    heap_used += sizeof(ttst_heap_desc) + kPayload;
    for (uint64_t k = 0; k < kPayload / 8; ++k) words[k] = fill + k;
    return words;
  }
};

}  // namespace

TEST_CASE("backward: F's objects land on R's objects of the same ID, in R's list order or not") {
  Side f("stfw/tests/programs/state/state_v2"), r("stfw/tests/programs/state/state_v1");
  // F lists P's objects 10, 11, 12 (their origin IDs) in P's order, then one of its own.
  f.add(200, 10, 1000), f.add(201, 11, 1100), f.add(202, 12, 1200), f.add(203, 0, 1300);
  std::vector<uint64_t> ids;
  SUBCASE("R lists them in the same order (the merge pairs all)") { ids = {10, 11, 12, 13}; }
  SUBCASE("R lists them in another order (the merge pairs some, the hash the rest)") { ids = {11, 10, 13, 12}; }
  SUBCASE("R lists them backwards (the hash pairs nearly all)") { ids = {13, 12, 11, 10}; }
  std::vector<uint64_t*> r_words;
  for (uint64_t id : ids) r_words.push_back(r.add(id, 0, 7));
  TransferRun run = run_transfer(f, r, {.backward = true});
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  for (size_t i = 0; i < ids.size(); ++i) {
    INFO("R's object " << ids[i]);
    // 10, 11, 12 get F's bytes of the object with that origin; 13 has no counterpart in F.
    uint64_t fill = ids[i] == 13 ? 7 : 1000 + 100 * (ids[i] - 10);
    for (uint64_t k = 0; k < kPayload / 8; ++k) CHECK(r_words[i][k] == fill + k);
  }
}

namespace {
// Env::read_own over R's buffer: [lo, lo + kMem) readable, as one mapping; a read
// starting below it fails (as /proc/self/mem's does at an unmapped page), one
// running past its end is short.
uint64_t own_lo = 0;
uint64_t own_reads_below = 0;
long read_own(void*, uint64_t addr, void* buf, uint64_t len) {
  if (addr < own_lo || addr >= own_lo + kMem) return own_reads_below += addr < own_lo, -5;
  uint64_t n = std::min(len, own_lo + kMem - addr);
  std::memcpy(buf, reinterpret_cast<const void*>(addr), n);
  return long(n);
}

// The payloads of R's 150 objects after a backward transfer (F's written over R's),
// R listing them in F's order or backwards, with or without the window on R's memory.
std::vector<uint64_t> backward_into_r(bool windowed, bool reversed, Result* result) {
  Side f("stfw/tests/programs/state/state_v2"), r("stfw/tests/programs/state/state_v1");
  constexpr uint64_t kObjects = 150;
  for (uint64_t i = 0; i < kObjects; ++i) f.add(1000 + i, 10 + i, 100000 + 100 * i);
  std::vector<uint64_t*> payloads;
  for (uint64_t i = 0; i < kObjects; ++i) payloads.push_back(r.add(reversed ? 10 + kObjects - 1 - i : 10 + i, 0, 7));
  own_lo = r.bias();
  TransferRun run = run_transfer(f, r, {.backward = true, .read_own = windowed ? &read_own : nullptr});
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  *result = run.r;
  std::vector<uint64_t> words;
  for (uint64_t* p : payloads) words.insert(words.end(), p, p + kPayload / 8);
  return words;
}
}  // namespace

TEST_CASE("backward: R's heap read through a window of its own memory gives what reading it in place gives") {
  for (bool reversed : {false, true}) {
    const char* order = reversed ? "R lists its objects backwards" : "R lists them in F's order";
    INFO(order);
    Result in_place, windowed;
    own_reads_below = 0;
    std::vector<uint64_t> expected = backward_into_r(false, reversed, &in_place);
    std::vector<uint64_t> got = backward_into_r(true, reversed, &windowed);
    CHECK(in_place.own_reads == 0);
    CHECK(windowed.own_reads > 0);
    // The window is larger than R's whole buffer: going down (to R's globals, below
    // its heap) it was shrunk to fit above the buffer's start, never read below it.
    CHECK(own_reads_below > 0);
    CHECK(windowed.objects == in_place.objects);
    CHECK(got == expected);
    // F's payloads are in R: the comparison is not between two unwritten heaps.
    CHECK(got[0] == (reversed ? 100000 + 100 * 149 : 100000));
  }
}

TEST_CASE("backward: R holding many more objects than F's table (a library's) still pairs every object") {
  // F lists P's objects 10 then 11; R lists 40 objects F has no counterpart of, then
  // 11, then 10: the merge pairs 10 only, the hash must find 11 behind all 40. Its
  // table was sized by F's 2 objects (32 slots): it filled and 11 was never hashed.
  Side f("stfw/tests/programs/state/state_v2"), r("stfw/tests/programs/state/state_v1");
  f.add(200, 10, 1000), f.add(201, 11, 1100);
  for (uint64_t id = 100; id < 140; ++id) r.add(id, 0, 7);
  uint64_t* r11 = r.add(11, 0, 7);
  uint64_t* r10 = r.add(10, 0, 7);
  TransferRun run = run_transfer(f, r, {.backward = true});
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  for (uint64_t k = 0; k < kPayload / 8; ++k) {
    CHECK(r10[k] == 1000 + k);
    CHECK(r11[k] == 1100 + k);
  }
}
