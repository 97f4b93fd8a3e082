// backward_match_test.cc — the backward transfer's pairing of F's heap objects with
// R's (F's origin_id X onto R's dyn_id X) on the host, without processes: F's copy
// and R's memory are buffers laid out at the programs' link addresses plus a bias,
// each with a runtime block whose stripe 0 lists hand-made heap objects. The engine
// first merges R's walk with its table in order, then hashes R's objects for what
// the merge left: both paths, and their mix, must pair every object by ID.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "stfw/abi/ttst_abi.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/host_process.h"
#include "stfw/xfer/engine.h"

using ttst::stfw::testing::free_scratch;
using ttst::stfw::testing::HostProcess;
using ttst::stfw::testing::scratch;

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
    auto* d = reinterpret_cast<ttst_heap_desc*>(mem + kHeap + heap_used);
    heap_used += sizeof(ttst_heap_desc) + kPayload;
    REQUIRE(kHeap + heap_used <= kMem);
    ttst_heap_stripe& s = runtime()->stripes[0];
    d->size = kPayload, d->site = 0, d->dyn_id = dyn_id, d->origin_id = origin_id;
    d->flags = 0, d->offset = 0, d->magic = TTST_HEAP_LIVE;
    d->next = &s.head, d->prev = s.head.prev;
    s.head.prev->next = d, s.head.prev = d;
    s.live++;
    auto* words = reinterpret_cast<uint64_t*>(d + 1);
    for (uint64_t k = 0; k < kPayload / 8; ++k) words[k] = fill + k;
    return words;
  }
};

// Backward: source F (v2), this process R (v1).
ttst::stfw::Result backward(Side& f, Side& r, std::string* msg) {
  static char out[4096];
  out[0] = 0;
  ttst::stfw::Region region{f.bias(), kMem, f.mem};
  ttst::stfw::Config c;
  c.backward = true;
  c.src_meta = f.v, c.dst_meta = r.v, c.src_bias = f.bias(), c.dst_bias = r.bias();
  c.src_runtime = f.bias() + f.v.runtime_addr(), c.dst_runtime = r.bias() + r.v.runtime_addr();
  c.regions = &region, c.region_count = 1, c.out = out, c.out_size = sizeof out;
  ttst::stfw::Env env{&scratch, nullptr, nullptr, nullptr};
  ttst::stfw::Result res = ttst::stfw::transfer(c, env);
  *msg = out;
  free_scratch();
  return res;
}

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
  std::string msg;
  ttst::stfw::Result res = backward(f, r, &msg);
  INFO(msg);
  REQUIRE(res.status == TTST_STFW_STATUS_OK);
  for (size_t i = 0; i < ids.size(); ++i) {
    INFO("R's object " << ids[i]);
    // 10, 11, 12 get F's bytes of the object with that origin; 13 has no counterpart in F.
    uint64_t fill = ids[i] == 13 ? 7 : 1000 + 100 * (ids[i] - 10);
    for (uint64_t k = 0; k < kPayload / 8; ++k) CHECK(r_words[i][k] == fill + k);
  }
}
