// parallel_phases_test.cc — the typing sweep and the write phase on two threads
// (engine_parallel_typing.cc, engine_parallel_write.cc), on the host: a heap of a
// few thousand linked nodes transferred with the second thread started (Env::beside
// on a std::thread) types and writes what one thread does, in every schedule — the
// second thread taking every chunk before this one starts, none, or racing it; an
// object the plans cannot decide is walked afterwards with the same result; and a
// refusal, in the typing or the write, is word for word the one-thread message.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "stfw/stfw_task.h"
#include "stfw/tests/host_process.h"

using ttst::stfw::testing::beside_started;
using ttst::stfw::testing::BesideSchedule;
using ttst::stfw::testing::carve_future;
using ttst::stfw::testing::carve_future_from;
using ttst::stfw::testing::HostProcess;
using ttst::stfw::testing::HostTransfer;
using ttst::stfw::testing::link_dnode_ring;
using ttst::stfw::testing::run_transfer;
using ttst::stfw::testing::TransferRun;

namespace {

constexpr uint64_t kNodes = 3000;
constexpr uint64_t kSourceAt = 0x10000, kFutureAt = 0x10000, kStride = 0x60;

// v1 struct dnode { dnode *prev, *next; int v; }: a ring through the global `ring`,
// every node's prev pointing at the ring itself; node k holds 1000 + k. The prev
// of the nodes in `bad` points past v2's `ids` (a refusal naming that node).
std::vector<uint8_t*> build_ring(HostProcess& p, const std::vector<uint64_t>& bad = {}, uint64_t odd = ~0ull) {
  std::vector<uint8_t*> nodes;
  for (uint64_t i = 0; i < kNodes; ++i) nodes.push_back(p.add_heap_object(kSourceAt + i * kStride, 24, i + 1));
  link_dnode_ring(p, nodes, 1000);
  auto set_prev = [&](uint64_t i, uint64_t prev) { std::memcpy(nodes[i], &prev, 8); };
  for (uint64_t b : bad) set_prev(b, p.addr("ids", 6));  // &ids[3]: v2 has ids[2]
  if (odd != ~0ull)  // a block no dnode fits (40 bytes): the plans leave the node to the walk
    set_prev(odd, reinterpret_cast<uint64_t>(p.add_heap_object(kSourceAt + kNodes * kStride, 40, kNodes + 1)));
  return nodes;
}

TransferRun forward(HostProcess& p, HostProcess& f, BesideSchedule schedule) {
  carve_future_from(f, kFutureAt);
  HostTransfer how;
  how.alloc = &carve_future;
  how.beside = schedule;
  how.beside_min = 1;
  return run_transfer(p, f, how);
}

// F's ring (v2 struct dnode { int v; long weight; dnode *next, *prev; }) as the
// values met from ring.next, each node's prev checked to be the ring.
std::vector<int32_t> future_ring(HostProcess& f) {
  std::vector<int32_t> values;
  uint64_t at = f.get<uint64_t>("ring", 16);
  while (at != f.addr("ring") && values.size() <= kNodes) {
    const auto* node = reinterpret_cast<const uint8_t*>(at);
    int32_t v;
    std::memcpy(&v, node, 4);
    values.push_back(v);
    uint64_t prev;
    std::memcpy(&prev, node + 24, 8);
    if (prev != f.addr("ring")) values.push_back(-1);
    std::memcpy(&at, node + 16, 8);
  }
  return values;
}

// check(schedule) in each two-thread schedule: the worker first, last (once each),
// and racing this thread (ten times).
template <class Check>
void each_schedule(Check&& check) {
  for (BesideSchedule schedule : {BesideSchedule::kFirst, BesideSchedule::kLast, BesideSchedule::kRacing})
    for (int round = 0; round < (schedule == BesideSchedule::kRacing ? 10 : 1); ++round) {
      CAPTURE(int(schedule));
      CAPTURE(round);
      check(schedule);
    }
}

}  // namespace

TEST_CASE("two threads write what one writes, in every schedule") {
  HostProcess p1("stfw/tests/programs/state/state_v1"), f1("stfw/tests/programs/state/state_v2");
  build_ring(p1);
  TransferRun one = forward(p1, f1, BesideSchedule::kNone);
  INFO(one.msg);
  REQUIRE(one.r.status == TTST_STFW_STATUS_OK);
  std::vector<int32_t> expected;
  for (uint64_t i = 0; i < kNodes; ++i) expected.push_back(int32_t(1000 + i));
  REQUIRE(future_ring(f1) == expected);
  each_schedule([&](BesideSchedule schedule) {
    HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
    build_ring(p);
    const int started = beside_started;
    TransferRun two = forward(p, f, schedule);
    INFO(two.msg);
    REQUIRE(two.r.status == TTST_STFW_STATUS_OK);
    CHECK(beside_started == started + 2);  // the second thread was used, for both phases
    CHECK(two.r.type_threads == 2);
    CHECK(two.r.write_threads == 2);
    CHECK(future_ring(f) == expected);
    CHECK(two.r.objects == one.r.objects);  // the counts of both threads added up
    CHECK(two.r.pointers == one.r.pointers);
    CHECK(two.r.bytes == one.r.bytes);
    CHECK(two.r.transforms == one.r.transforms);
  });
}

TEST_CASE("below beside_min one thread types and writes") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  build_ring(p);
  carve_future_from(f, kFutureAt);
  HostTransfer how;
  how.alloc = &carve_future;
  how.beside = BesideSchedule::kRacing;
  how.beside_min = kNodes + 1;
  const int started = beside_started;
  TransferRun run = run_transfer(p, f, how);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  CHECK(beside_started == started);
  CHECK(run.r.type_threads == 1);
  CHECK(run.r.write_threads == 1);
  CHECK(future_ring(f).size() == kNodes);
}

TEST_CASE("a refusal is the first in table order, the message one thread writes") {
  // Two bad nodes: the first is reported, by either thread; then only a late one
  // (met by whichever thread takes its chunk); then two in the table's last chunk
  // (46 nodes), the first one the worker takes, from its end: the lower one is
  // given back to this thread.
  for (std::vector<uint64_t> bad :
       {std::vector<uint64_t>{700, 2500}, std::vector<uint64_t>{2900}, std::vector<uint64_t>{2970, 2990}}) {
    HostProcess p1("stfw/tests/programs/state/state_v1"), f1("stfw/tests/programs/state/state_v2");
    build_ring(p1, bad);
    TransferRun one = forward(p1, f1, BesideSchedule::kNone);
    REQUIRE(one.r.status == TTST_STFW_STATUS_INVARIANT);
    REQUIRE(one.msg.find("heap object #" + std::to_string(bad[0] + 1)) != std::string::npos);  // dyn_id = k + 1
    REQUIRE(one.msg.find("which does not exist in v2") != std::string::npos);
    each_schedule([&](BesideSchedule schedule) {
      HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
      build_ring(p, bad);
      TransferRun two = forward(p, f, schedule);
      CHECK(two.r.status == one.r.status);
      CHECK(two.msg == one.msg);
      CHECK(two.fix == one.fix);
    });
  }
}

TEST_CASE("a global's refusal comes before any heap object's") {
  HostProcess p1("stfw/tests/programs/state/state_v1"), f1("stfw/tests/programs/state/state_v2");
  build_ring(p1, {5, 2000});
  p1.put<short>("small", 0, 30000);  // does not fit v2's signed char
  TransferRun one = forward(p1, f1, BesideSchedule::kNone);
  REQUIRE(one.msg == "invariant: small = 30000 does not fit in signed char (v2's type)");
  each_schedule([&](BesideSchedule schedule) {
    HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
    build_ring(p, {5, 2000});
    p.put<short>("small", 0, 30000);
    TransferRun two = forward(p, f, schedule);
    CHECK(two.r.status == TTST_STFW_STATUS_INVARIANT);
    CHECK(two.msg == one.msg);
  });
}

TEST_CASE("typing: an object the plans leave to the walk is typed as on one thread") {
  HostProcess p1("stfw/tests/programs/state/state_v1"), f1("stfw/tests/programs/state/state_v2");
  build_ring(p1, {}, 1500);
  TransferRun one = forward(p1, f1, BesideSchedule::kNone);
  INFO(one.msg);
  REQUIRE(one.r.status == TTST_STFW_STATUS_OK);
  const std::vector<int32_t> ring = future_ring(f1);
  REQUIRE(ring.size() == kNodes + 1);  // node 1500's prev is not the ring: marked
  each_schedule([&](BesideSchedule schedule) {
    HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
    build_ring(p, {}, 1500);
    TransferRun two = forward(p, f, schedule);
    INFO(two.msg);
    REQUIRE(two.r.status == TTST_STFW_STATUS_OK);
    CHECK(two.r.type_threads == 2);
    CHECK(future_ring(f) == ring);
    CHECK(two.r.objects == one.r.objects);
    CHECK(two.r.untyped_copied == one.r.untyped_copied);
    CHECK(two.r.pointers == one.r.pointers);
  });
}

TEST_CASE("typing: a refusal after a two-thread sweep is the one-thread message") {
  // Node 1800 is also the global `root`'s struct tnode *: reached as two unrelated
  // struct types (ambiguous), met by whichever thread sweeps node 1799.
  auto build = [](HostProcess& p) {
    std::vector<uint8_t*> nodes = build_ring(p);
    p.put<uint64_t>("root", 0, reinterpret_cast<uint64_t>(nodes[1800]));
  };
  HostProcess p1("stfw/tests/programs/state/state_v1"), f1("stfw/tests/programs/state/state_v2");
  build(p1);
  TransferRun one = forward(p1, f1, BesideSchedule::kNone);
  REQUIRE(one.r.status == TTST_STFW_STATUS_AMBIGUOUS);
  REQUIRE(one.msg.find("heap object #1801") != std::string::npos);
  each_schedule([&](BesideSchedule schedule) {
    HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
    build(p);
    TransferRun two = forward(p, f, schedule);
    CHECK(two.r.status == one.r.status);
    CHECK(two.msg == one.msg);
    CHECK(two.fix == one.fix);
    CHECK(two.r.type_threads == 1);  // the refusal is the run on one thread
  });
}
