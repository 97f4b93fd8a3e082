// delta_test.cc — the engine's second run on the same state (engine.h
// transfer_delta, engine_delta.cc), on the host: a first forward run from a copy
// of the source S kept, the source then changed the way a serving program changes
// its heap (a value written, a block allocated and linked in, a block unlinked and
// freed), the changed pages patched in by a second run. F must then hold the
// changed state and nothing else must have been written again; what the second
// run cannot follow is refused as DELTA_REFUSED.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "stfw/abi/ttst_abi.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/host_process.h"
#include "stfw/xfer/engine.h"

using ttst::stfw::Config;
using ttst::stfw::Delta;
using ttst::stfw::Env;
using ttst::stfw::KeptEngine;
using ttst::stfw::Region;
using ttst::stfw::Result;
using ttst::stfw::SourcePatch;
using ttst::stfw::testing::carve_future;
using ttst::stfw::testing::carve_future_from;
using ttst::stfw::testing::free_scratch;
using ttst::stfw::testing::HostProcess;
using ttst::stfw::testing::link_dnode_ring;
using ttst::stfw::testing::scratch;

namespace {

constexpr uint64_t kPage = 4096;
std::vector<uint64_t> released;
void release(void*, uint64_t addr) { released.push_back(addr); }

// A first run from a copy of `p` kept for a second one; everything the engine
// holds pointers to lives as long as this.
struct KeptRun {
  HostProcess& p;
  HostProcess& f;
  std::vector<uint8_t> snapshot, copy;  // S's bytes, and the engine's copy of them (which it tags)
  Region region{};
  Config c;
  Env env{&scratch, nullptr, &carve_future, nullptr};
  char out[4096] = {};
  KeptEngine* kept = nullptr;
  Result first;

  KeptRun(HostProcess& p_, HostProcess& f_, bool keep = true)
      : p(p_), f(f_), snapshot(p.mem, p.mem + HostProcess::kMemSize), copy(snapshot) {
    region = Region{p.bias(), HostProcess::kMemSize, copy.data()};
    c.src_meta = p.v, c.dst_meta = f.v, c.src_bias = p.bias(), c.dst_bias = f.bias();
    c.src_runtime = p.bias() + p.v.runtime_addr(), c.dst_runtime = f.bias() + f.v.runtime_addr();
    c.regions = &region, c.region_count = 1, c.out = out, c.out_size = sizeof out;
    c.keep = keep;
    env.release = &release;
    released.clear();
    first = ttst::stfw::transfer(c, env, &kept);
  }
  ~KeptRun() { free_scratch(); }

  // The pages of p that differ from S, as patches.
  std::vector<SourcePatch> patches() const {
    std::vector<SourcePatch> out_patches;
    for (uint64_t at = 0; at < HostProcess::kMemSize; at += kPage)
      if (std::memcmp(p.mem + at, snapshot.data() + at, kPage) != 0)
        out_patches.push_back({p.bias() + at, kPage, p.mem + at});
    return out_patches;
  }
  Result second(std::string* msg) {
    const std::vector<SourcePatch> changed = patches();
    Delta d;
    d.patches = changed.data(), d.patch_count = changed.size(), d.out = out, d.out_size = sizeof out;
    Result r = ttst::stfw::transfer_delta(kept, d);
    *msg = out;
    return r;
  }
};

// A block allocated now: linked first on stripe 0, as the runtime links a new one.
uint8_t* allocate_first(HostProcess& p, uint64_t desc_at, uint64_t size, uint64_t dyn_id) {
  auto* d = reinterpret_cast<ttst_heap_desc*>(p.mem + desc_at);
  std::memset(d, 0, sizeof *d + size);
  ttst_heap_stripe& s = p.runtime()->stripes[0];
  d->size = size, d->dyn_id = dyn_id, d->magic = TTST_HEAP_LIVE;
  d->prev = &s.head, d->next = s.head.next;
  s.head.next->prev = d, s.head.next = d;
  s.live++;
  return reinterpret_cast<uint8_t*>(d + 1);
}

// A block freed now: unlinked, its magic cleared.
void free_block(HostProcess& p, uint8_t* block) {
  auto* d = reinterpret_cast<ttst_heap_desc*>(block) - 1;
  d->prev->next = d->next, d->next->prev = d->prev;
  d->magic = 0;
  p.runtime()->stripes[0].live--;
}

uint64_t word(const uint8_t* at) {
  uint64_t w;
  std::memcpy(&w, at, 8);
  return w;
}
void put_word(uint8_t* at, uint64_t w) { std::memcpy(at, &w, 8); }
// v2 struct dnode { int v; long weight; struct dnode *next, *prev; }
int32_t v2_value(uint64_t node) {
  int32_t v;
  std::memcpy(&v, reinterpret_cast<const uint8_t*>(node), 4);
  return v;
}
uint64_t v2_next(uint64_t node) { return word(reinterpret_cast<const uint8_t*>(node) + 16); }

// F's ring from v2's global `ring`, by next.
std::vector<int32_t> future_ring(HostProcess& f) {
  std::vector<int32_t> values;
  const uint64_t ring = f.addr("ring");
  for (uint64_t n = v2_next(ring); n != ring && values.size() < 16; n = v2_next(n)) values.push_back(v2_value(n));
  return values;
}

// P's ring: four nodes, each on a page of its own (so a page's patch is one node's).
std::vector<uint8_t*> four_nodes(HostProcess& p) {
  std::vector<uint8_t*> nodes;
  for (uint64_t k = 0; k < 4; ++k) nodes.push_back(p.add_heap_object(0x80000 + k * kPage, 24, k + 1));
  link_dnode_ring(p, nodes, 0);
  return nodes;
}

}  // namespace

TEST_CASE("a second run re-transfers the changed pages only: a value, a block linked in, a block freed") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  std::vector<uint8_t*> nodes = four_nodes(p);
  carve_future_from(f, 0x40000);
  KeptRun run(p, f);
  INFO(run.out);
  REQUIRE(run.first.status == TTST_STFW_STATUS_OK);
  REQUIRE(run.kept != nullptr);
  CHECK(future_ring(f) == std::vector<int32_t>{0, 1, 2, 3});
  // F's blocks of nodes 2 and 3 marked: a block written again loses its mark.
  std::vector<uint64_t> fnodes;
  const uint64_t fring = f.addr("ring");
  for (uint64_t n = v2_next(fring); n != fring; n = v2_next(n)) fnodes.push_back(n);
  REQUIRE(fnodes.size() == 4);
  std::memcpy(reinterpret_cast<void*>(fnodes[2]), "\x09\x03\0\0", 4);  // v = 777
  std::memcpy(reinterpret_cast<void*>(fnodes[3]), "\xe7\x03\0\0", 4);  // v = 999

  // P serves on: node 1's value written, a new node linked after node 2 (its next
  // written, node 2's page), node 0 unlinked from the ring and freed.
  const int32_t hundred = 100, fifty = 50;
  std::memcpy(nodes[1] + 16, &hundred, 4);
  uint8_t* added = allocate_first(p, 0x84000, 24, 9);
  put_word(added, p.addr("ring")), put_word(added + 8, word(nodes[2] + 8)), std::memcpy(added + 16, &fifty, 4);
  put_word(nodes[2] + 8, reinterpret_cast<uint64_t>(added));
  p.put<uint64_t>("ring", 8, reinterpret_cast<uint64_t>(nodes[1]));
  free_block(p, nodes[0]);

  std::string msg;
  Result r = run.second(&msg);
  INFO(msg);
  REQUIRE(r.status == TTST_STFW_STATUS_OK);
  // Node 2's page changed (its next), so it was written again (777 → 2); node 3's
  // did not, so its block kept the mark.
  CHECK(future_ring(f) == std::vector<int32_t>{100, 2, 50, 999});
  // Node 0's block released here, the new node's allocated with its dyn_id as origin.
  CHECK(released == std::vector<uint64_t>{fnodes[0]});
  CHECK(r.freed == 1);
  const uint64_t fadded = v2_next(fnodes[2]);
  const auto* d = reinterpret_cast<const ttst_heap_desc*>(fadded) - 1;
  CHECK(d->origin_id == 9);
  CHECK(d->magic == TTST_HEAP_LIVE);
}

TEST_CASE("a second run with nothing changed writes nothing") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  four_nodes(p);
  carve_future_from(f, 0x40000);
  KeptRun run(p, f);
  REQUIRE(run.first.status == TTST_STFW_STATUS_OK);
  std::string msg;
  Result r = run.second(&msg);
  INFO(msg);
  CHECK(r.status == TTST_STFW_STATUS_OK);
  CHECK(r.objects == 0);
  CHECK(released.empty());
}

TEST_CASE("a block the first run copied untyped, typed by a pointer written since, is refused") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  four_nodes(p);
  uint8_t* lone = p.add_heap_object(0x88000, 8, 20);  // struct point's size, reached by nothing: bytes
  const int32_t xy[2] = {3, 4};
  std::memcpy(lone, xy, 8);
  carve_future_from(f, 0x40000);
  KeptRun run(p, f);
  INFO(run.out);
  REQUIRE(run.first.status == TTST_STFW_STATUS_OK);
  p.put<uint64_t>("origin", 0, reinterpret_cast<uint64_t>(lone));  // struct point *origin
  std::string msg;
  Result r = run.second(&msg);
  CHECK(r.status == TTST_STFW_STATUS_DELTA_REFUSED);
  CHECK(msg == "delta refused: a block of the first run is typed otherwise now");
}

TEST_CASE("a block linked anywhere but first is refused: the lists no longer add up") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  std::vector<uint8_t*> nodes = four_nodes(p);
  carve_future_from(f, 0x40000);
  KeptRun run(p, f);
  REQUIRE(run.first.status == TTST_STFW_STATUS_OK);
  uint8_t* tail = p.add_heap_object(0x84000, 24, 9);  // appended at the list's end
  put_word(tail, p.addr("ring")), put_word(tail + 8, p.addr("ring"));
  put_word(nodes[3] + 8, reinterpret_cast<uint64_t>(tail));
  std::string msg;
  Result r = run.second(&msg);
  CHECK(r.status == TTST_STFW_STATUS_DELTA_REFUSED);
  CHECK(msg == "delta refused: the heap lists changed other than by blocks freed and blocks linked first");
}

TEST_CASE("a first run without keep leaves no engine, and a patch outside the copy is bad input") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  four_nodes(p);
  carve_future_from(f, 0x40000);
  {
    KeptRun run(p, f, false);
    REQUIRE(run.first.status == TTST_STFW_STATUS_OK);
    CHECK(run.kept == nullptr);
  }
  carve_future_from(f, 0x60000);
  KeptRun run(p, f);
  REQUIRE(run.kept != nullptr);
  const uint8_t page[kPage] = {};
  const SourcePatch outside{p.bias() + HostProcess::kMemSize, kPage, page};
  Delta d;
  d.patches = &outside, d.patch_count = 1, d.out = run.out, d.out_size = sizeof run.out;
  Result r = ttst::stfw::transfer_delta(run.kept, d);
  CHECK(r.status == TTST_STFW_STATUS_BAD_INPUT);
  CHECK(std::string(run.out).find("bad input: patch #0 at 0x") == 0);
}
