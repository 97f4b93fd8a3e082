// delta_test.cc — the engine's second run on the same state (engine.h
// transfer_delta, engine_delta.cc), on the host: a first forward run from a copy
// of the source S kept, the source then changed the way a serving program changes
// its heap (a value written, a block allocated and linked in, a block unlinked and
// freed), the changed pages patched in by a second run. F must then hold the
// changed state and nothing else must have been written again; what the second
// run cannot follow is refused as DELTA_REFUSED.
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
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
using ttst::stfw::testing::free_scratch;
using ttst::stfw::testing::HostProcess;
using ttst::stfw::testing::link_dnode_ring;
using ttst::stfw::testing::scratch;

namespace {

constexpr uint64_t kPage = 4096;
std::vector<uint64_t> released;
HostProcess* releasing = nullptr;  // F, whose blocks Env::release frees as the runtime would

void free_block(HostProcess& p, uint8_t* block);
void release(void*, uint64_t addr) {
  released.push_back(addr);
  if (releasing) free_block(*releasing, reinterpret_cast<uint8_t*>(addr));
}

// Env::alloc of a first run: F's blocks appended to its list, each on a page of its
// own from `carve_paged_at` on (so that a page's change is one object's here too).
HostProcess* carving = nullptr;
uint64_t carve_paged_at = 0;
uint64_t carve_paged(void*, uint64_t size, uint64_t, uint64_t origin) {
  uint8_t* p = carving->add_heap_object(carve_paged_at, size, 100 + origin, origin);
  carve_paged_at += kPage;
  return reinterpret_cast<uint64_t>(p);
}

// The pages of `now` that differ from `then` (its bytes earlier), as patches.
std::vector<SourcePatch> changed_pages(const HostProcess& now, const std::vector<uint8_t>& then) {
  std::vector<SourcePatch> out;
  for (uint64_t at = 0; at < HostProcess::kMemSize; at += kPage)
    if (std::memcmp(now.mem + at, then.data() + at, kPage) != 0) out.push_back({now.bias() + at, kPage, now.mem + at});
  return out;
}

// A first run from a copy of `p` (forward, into `f`; backward, into R) kept for a
// second one; everything the engine holds pointers to lives as long as this.
struct KeptRun {
  HostProcess& p;
  HostProcess& f;
  std::vector<uint8_t> snapshot, copy;  // S's bytes, and the engine's copy of them (which it tags)
  Region region{};
  Config c;
  Env env{&scratch, nullptr, &carve_paged, nullptr};
  char out[4096] = {};
  KeptEngine* kept = nullptr;
  Result first;

  KeptRun(HostProcess& p_, HostProcess& f_, bool keep = true, bool backward = false, uint32_t beside_min = 32768)
      : p(p_), f(f_), snapshot(p.mem, p.mem + HostProcess::kMemSize), copy(snapshot) {
    c.beside_min = beside_min;
    region = Region{p.bias(), HostProcess::kMemSize, copy.data()};
    c.backward = backward;
    c.src_meta = p.v, c.dst_meta = f.v, c.src_bias = p.bias(), c.dst_bias = f.bias();
    c.src_runtime = p.bias() + p.v.runtime_addr(), c.dst_runtime = f.bias() + f.v.runtime_addr();
    c.regions = &region, c.region_count = 1, c.out = out, c.out_size = sizeof out;
    c.keep = keep;
    if (!backward) carving = &f, carve_paged_at = 0x40000;
    if (backward) env.alloc = nullptr;
    else env.release = &release;
    if (!backward) released.clear();
    first = ttst::stfw::transfer(c, env, &kept);
  }
  ~KeptRun() { free_scratch(); }

  // The second run on p's pages changed since S; backward, with `own` (this
  // process's pages written since) too.
  Result second(std::string* msg, const std::vector<SourcePatch>& own = {}, uint64_t unseen = 0) {
    std::vector<SourcePatch> changed = changed_pages(p, snapshot);
    std::erase_if(changed, [&](const SourcePatch& c) { return unseen - c.addr < c.size; });  // as if never written
    std::vector<uint64_t> own_ranges;
    for (const SourcePatch& o : own) own_ranges.push_back(o.addr), own_ranges.push_back(o.addr + o.size);
    Delta d;
    d.patches = changed.data(), d.patch_count = changed.size(), d.out = out, d.out_size = sizeof out;
    d.own_ranges = own_ranges.data(), d.own_ranges_count = own.size();
    Result r = ttst::stfw::transfer_delta(kept, d);
    *msg = out;
    return r;
  }
  // A second run that must succeed (its message shown when it does not).
  Result second_ok() {
    std::string msg;
    Result r = second(&msg);
    INFO(msg);
    REQUIRE(r.status == TTST_STFW_STATUS_OK);
    return r;
  }
  // A next round: the next second run sees what p wrote from now on (pre-copy's
  // rounds on the delta: K2 forked at the round's stop).
  void next_round() { snapshot.assign(p.mem, p.mem + HostProcess::kMemSize); }
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

// Env::alloc of a second run: blocks carved from `carve_first_at` on, linked first
// (the runtime's order; the first run's carve_paged appends).
uint64_t carve_first_at = 0;
uint64_t carve_first(void*, uint64_t size, uint64_t, uint64_t origin) {
  uint8_t* p = allocate_first(*releasing, carve_first_at, size, 100 + origin);
  reinterpret_cast<ttst_heap_desc*>(p)[-1].origin_id = origin;
  carve_first_at += (sizeof(ttst_heap_desc) + size + 15) & ~15ull;
  return reinterpret_cast<uint64_t>(p);
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

// F's ring nodes from v2's global `ring`, by next, and their values.
std::vector<uint64_t> future_nodes(HostProcess& f) {
  std::vector<uint64_t> nodes;
  const uint64_t ring = f.addr("ring");
  for (uint64_t n = v2_next(ring); n != ring && nodes.size() < 16; n = v2_next(n)) nodes.push_back(n);
  return nodes;
}
std::vector<int32_t> future_ring(HostProcess& f) {
  std::vector<int32_t> values;
  for (uint64_t n : future_nodes(f)) values.push_back(v2_value(n));
  return values;
}

// v1's ring (struct dnode { prev, next; int v; }) by next.
std::vector<int32_t> past_ring(HostProcess& p) {
  std::vector<int32_t> values;
  const uint64_t ring = p.addr("ring");
  for (uint64_t n = word(p.at("ring", 8)); n != ring && values.size() < 16; n = word(reinterpret_cast<uint8_t*>(n) + 8)) {
    int32_t v;
    std::memcpy(&v, reinterpret_cast<uint8_t*>(n) + 16, 4);
    values.push_back(v);
  }
  return values;
}

// P serves on: node 1's value written, a new node (dyn_id 9) linked after node 2
// (its next written, node 2's page), node 0 unlinked from the ring and freed.
void serve_on(HostProcess& p, const std::vector<uint8_t*>& nodes) {
  const int32_t hundred = 100, fifty = 50;
  std::memcpy(nodes[1] + 16, &hundred, 4);
  uint8_t* added = allocate_first(p, 0x84000, 24, 9);
  put_word(added, p.addr("ring")), put_word(added + 8, word(nodes[2] + 8)), std::memcpy(added + 16, &fifty, 4);
  put_word(nodes[2] + 8, reinterpret_cast<uint64_t>(added));
  p.put<uint64_t>("ring", 8, reinterpret_cast<uint64_t>(nodes[1]));
  free_block(p, nodes[0]);
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
  KeptRun run(p, f);
  INFO(run.out);
  REQUIRE(run.first.status == TTST_STFW_STATUS_OK);
  REQUIRE(run.kept != nullptr);
  CHECK(future_ring(f) == std::vector<int32_t>{0, 1, 2, 3});
  // F's blocks of nodes 2 and 3 marked: a block written again loses its mark.
  const std::vector<uint64_t> fnodes = future_nodes(f);
  REQUIRE(fnodes.size() == 4);
  std::memcpy(reinterpret_cast<void*>(fnodes[2]), "\x09\x03\0\0", 4);  // v = 777
  std::memcpy(reinterpret_cast<void*>(fnodes[3]), "\xe7\x03\0\0", 4);  // v = 999

  serve_on(p, nodes);

  Result r = run.second_ok();
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

// Pre-copy's rounds on the delta: a third run after the second, on what P wrote
// since; the block the second run added is one of the table's now (found by its
// address, written again when its page changed).
TEST_CASE("a third run follows what changed since the second, the second's new block included") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  std::vector<uint8_t*> nodes = four_nodes(p);
  KeptRun run(p, f);
  REQUIRE(run.first.status == TTST_STFW_STATUS_OK);
  serve_on(p, nodes);
  Result r = run.second_ok();
  REQUIRE(future_ring(f) == std::vector<int32_t>{100, 2, 50, 3});
  run.next_round();
  const int32_t sixty = 60, thirty_three = 33;
  std::memcpy(reinterpret_cast<uint8_t*>(word(nodes[2] + 8)) + 16, &sixty, 4);  // the block the second run added
  std::memcpy(nodes[3] + 16, &thirty_three, 4);
  r = run.second_ok();
  CHECK(future_ring(f) == std::vector<int32_t>{100, 2, 60, 33});
  CHECK(r.objects == 2);  // those two only: the second run's changes are not written again
}

// Blocks freed run after run: each run's lists must add up to the first run's
// blocks less every one gone so far (not only this run's), and each freed block's
// counterpart is released once, in the run that found it gone.
TEST_CASE("a third run after blocks were freed in the second and third: each released once") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  std::vector<uint8_t*> nodes = four_nodes(p);
  KeptRun run(p, f);
  REQUIRE(run.first.status == TTST_STFW_STATUS_OK);
  const std::vector<uint64_t> fnodes = future_nodes(f);
  REQUIRE(fnodes.size() == 4);
  struct Releasing {  // F frees the blocks released, for this case only (whatever ends it)
    explicit Releasing(HostProcess& in) { releasing = &in; }
    ~Releasing() { releasing = nullptr; }
  } in_future(f);
  serve_on(p, nodes);  // node 0 unlinked and freed, a node added
  Result r = run.second_ok();
  CHECK(r.freed == 1);
  run.next_round();
  // Node 3 unlinked (the ring runs node 1, node 2, the added node, node 3) and freed.
  const uint64_t added = word(nodes[2] + 8);
  put_word(reinterpret_cast<uint8_t*>(added) + 8, p.addr("ring"));
  p.put<uint64_t>("ring", 0, added);
  free_block(p, nodes[3]);
  r = run.second_ok();
  CHECK(r.freed == 1);
  CHECK(released == std::vector<uint64_t>{fnodes[0], fnodes[3]});
}

TEST_CASE("a second run with nothing changed writes nothing") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  four_nodes(p);
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
  {
    HostProcess f2("stfw/tests/programs/state/state_v2");
    KeptRun run(p, f2, false);
    REQUIRE(run.first.status == TTST_STFW_STATUS_OK);
    CHECK(run.kept == nullptr);
  }
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

// Backward: R (built as P was: a fork of it) gets P's changes as the supervisor
// copies P's changed pages into R2; F gets them from the forward second run; the
// backward second run writes back from F every object on F's changed pages and
// every counterpart on R's changed ones.
namespace {
struct RoundTrip {
  HostProcess p{"stfw/tests/programs/state/state_v1"}, f{"stfw/tests/programs/state/state_v2"},
      r{"stfw/tests/programs/state/state_v1"};
  std::vector<uint8_t*> p_nodes, r_nodes;
  std::unique_ptr<KeptRun> forward, backward;
  std::vector<uint8_t> r_before;

  explicit RoundTrip(uint32_t beside_min = 32768) {
    p_nodes = four_nodes(p), r_nodes = four_nodes(r);
    forward = std::make_unique<KeptRun>(p, f, true, false, beside_min);
    REQUIRE(forward->first.status == TTST_STFW_STATUS_OK);
    backward = std::make_unique<KeptRun>(f, r, true, true, beside_min);
    INFO(backward->out);
    REQUIRE(backward->first.status == TTST_STFW_STATUS_OK);
    REQUIRE(past_ring(r) == std::vector<int32_t>{0, 1, 2, 3});
    r_before.assign(r.mem, r.mem + HostProcess::kMemSize);
    serve_on(p, p_nodes);
    serve_on(r, r_nodes);  // R2: P's changed pages copied in
    releasing = &f, carve_first_at = 0x70000, forward->env.alloc = &carve_first;
    std::string msg;
    Result fr = forward->second(&msg);
    releasing = nullptr;
    INFO(msg);
    REQUIRE(fr.status == TTST_STFW_STATUS_OK);
  }
  // `unseen`: an address of F whose page the backward run is not told about.
  Result back(std::string* msg, uint64_t unseen = 0) { return backward->second(msg, changed_pages(r, r_before), unseen); }
};
}  // namespace

TEST_CASE("backward, a second run writes F's changed objects back onto R2's, the new block onto the program's") {
  RoundTrip t;
  // R2's objects on the copied pages scrambled: the backward run must write them all.
  std::memset(t.r_nodes[1] + 16, 0x5a, 4);
  uint8_t* added = t.r.mem + 0x84000 + sizeof(ttst_heap_desc);
  std::memset(added + 16, 0x5a, 4);
  std::string msg;
  Result r = t.back(&msg);
  INFO(msg);
  REQUIRE(r.status == TTST_STFW_STATUS_OK);
  CHECK(past_ring(t.r) == std::vector<int32_t>{100, 2, 50, 3});
  CHECK(past_ring(t.r) == past_ring(t.p));
}

TEST_CASE("backward, a change the forward second run lost shows in R2") {
  RoundTrip t;
  // F's node 1 as if the forward second run had not written it: its page unchanged
  // for the backward run, which still holds node 1's value 1 from the first run.
  const uint64_t fnode1 = v2_next(t.f.addr("ring"));
  REQUIRE(v2_value(fnode1) == 100);
  std::string msg;
  Result r = t.back(&msg, fnode1);
  INFO(msg);
  REQUIRE(r.status == TTST_STFW_STATUS_OK);
  CHECK(past_ring(t.r) == std::vector<int32_t>{1, 2, 50, 3});  // differs from P's: the diff rolls back
  CHECK(past_ring(t.p) == std::vector<int32_t>{100, 2, 50, 3});
}

// The backward second run's writes on two threads (Env::beside on a thread of its
// own, the threshold lowered to this table's size): the same result as on one. The
// forward one stays on one thread (F's pages are shared with F_key: engine_delta.cc).
namespace {
std::thread beside_thread;
int besides = 0;
bool start_beside(void*, void (*fn)(void*), void* arg) {
  ++besides;
  beside_thread = std::thread(fn, arg);
  return true;
}
void wait_beside(void*) {
  if (beside_thread.joinable()) beside_thread.join();
}
}  // namespace

TEST_CASE("backward, a second run writes on two threads what one would; forward, on one") {
  besides = 0;
  RoundTrip t(1);  // the first runs and the forward second run without Env::beside ...
  CHECK(besides == 0);
  std::memset(t.r_nodes[1] + 16, 0x5a, 4);
  t.backward->env.beside = &start_beside, t.backward->env.beside_wait = &wait_beside;
  std::string msg;
  Result r = t.back(&msg);
  INFO(msg);
  REQUIRE(r.status == TTST_STFW_STATUS_OK);
  CHECK(besides == 1);
  CHECK(r.write_threads == 2);
  CHECK(past_ring(t.r) == std::vector<int32_t>{100, 2, 50, 3});
  CHECK(past_ring(t.r) == past_ring(t.p));
  // ... and a forward second run offered a second thread keeps to one.
  t.p.put<uint64_t>("ring", 8, reinterpret_cast<uint64_t>(t.p_nodes[2]));
  t.forward->next_round();
  const int32_t seven = 7;
  std::memcpy(t.p_nodes[3] + 16, &seven, 4);
  t.forward->env.beside = &start_beside, t.forward->env.beside_wait = &wait_beside;
  besides = 0;
  releasing = &t.f;
  Result fr = t.forward->second(&msg);
  releasing = nullptr;
  INFO(msg);
  REQUIRE(fr.status == TTST_STFW_STATUS_OK);
  CHECK(besides == 0);
  CHECK(fr.write_threads <= 1);
}
