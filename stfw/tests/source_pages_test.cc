// source_pages_test.cc — what a large forward transfer does to the memory around
// it, on real processes (stfw/bench's bench_v1 -> bench_v2, 100,000 objects):
// - P's heap pages it shares with a fork of P (R here; a pre-copy snapshot S and
//   its key K in the supervisor) stay shared: the agent reads P without pinning
//   its pages, so the kernel gives P no private copies (one more P of memory, and
//   a fault per page, when read with process_vm_readv);
// - F's heap, grown for that many objects, is marked for transparent huge pages
//   (the runtime's __ttst_transfer_reserve: a fault per 2 MiB, not per 4 KiB);
// - with the helper thread the supervisor allows, both agents write on two threads
//   (engine_parallel_write.cc), having typed the heap on two (engine_parallel_typing.cc),
//   and the round trip is still exact.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "diff/proc_files.h"
#include "inject/tests/test_util.h"
#include "stfw/tests/transfer_checks.h"
#include "stfw/tests/xfer_fixture.h"

using namespace ttst;
using namespace ttst::stfw::testing;

namespace {

struct Range {
  uint64_t lo = 0, hi = 0;
};

// The brk heap of `pid`: the [heap] mappings (several once part of it is advised).
Range brk_heap(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  Range heap;
  for (std::string line; std::getline(maps, line);)
    if (line.size() > 6 && line.compare(line.size() - 6, 6, "[heap]") == 0) {
      Range r;
      std::sscanf(line.c_str(), "%lx-%lx", &r.lo, &r.hi);
      if (heap.lo == 0) heap.lo = r.lo;
      heap.hi = r.hi;
    }
  return heap;
}

// Pages of [lo, hi) present in both processes on the same physical frame.
size_t shared_frames(pid_t a, pid_t b, Range range) {
  diff::Pagemap pa(a), pb(b);
  REQUIRE_MESSAGE(pa.ok(), pa.error());
  REQUIRE_MESSAGE(pb.ok(), pb.error());
  size_t n = (range.hi - range.lo) / diff::kPage, shared = 0;
  std::vector<diff::PageEntry> ea(n), eb(n);
  REQUIRE(pa.read(range.lo, n, ea.data()));
  REQUIRE(pb.read(range.lo, n, eb.data()));
  for (size_t i = 0; i < n; ++i) shared += ea[i].pfn() != 0 && ea[i].pfn() == eb[i].pfn();
  return shared;
}

void start_bench(RoundTrip& rt, uint32_t helpers = 0) {
  rt.helpers = helpers;
  rt.v1 = inject::testing::runfile("stfw/bench/bench_v1");
  rt.v2 = inject::testing::runfile("stfw/bench/bench_v2");
  rt.args = {"100000"};
  rt.heap_size = 100000 * 800 + (256 << 20);
  rt.start();
}

}  // namespace

TEST_CASE("the forward transfer reads P without giving P private copies of the pages it shares with a fork") {
  RoundTrip rt;
  start_bench(rt);
  Range heap = brk_heap(rt.p);
  REQUIRE(heap.hi - heap.lo > (16u << 20));  // 100,000 blocks of 128 bytes and their descriptors
  size_t before = shared_frames(rt.p, rt.r->pid(), heap);
  INFO("P's heap pages on R's frames before the transfer: ", before);
  REQUIRE(before > 4000);
  require_transferred(rt.forward());
  size_t after = shared_frames(rt.p, rt.r->pid(), heap);
  INFO("after: ", after);
  CHECK(after >= before - before / 100);
  check_backward_restores_past(rt);
}

TEST_CASE("a large transfer's heap in F is marked for transparent huge pages") {
  RoundTrip rt;
  start_bench(rt);
  Range before = brk_heap(rt.f->pid());
  require_transferred(rt.forward());
  Range after = brk_heap(rt.f->pid());
  REQUIRE(after.hi - std::max(before.hi, after.lo) > (16u << 20));  // the transfer's blocks: the brk heap
  // Nearly all the heap F grew for the transfer is advised (glibc may add its top
  // pad past the last step).
  Range grown{before.hi ? before.hi : after.lo, after.hi};
  uint64_t advised = inject::testing::huge_advised_bytes(rt.f->pid(), grown.lo, grown.hi);
  INFO("F's heap grew by ", grown.hi - grown.lo, " bytes, advised ", advised);
  CHECK(advised >= (grown.hi - grown.lo) * 9 / 10);
  check_backward_restores_past(rt);
}

TEST_CASE("with a helper thread both directions type and write on two threads, and P == R") {
  RoundTrip rt;
  start_bench(rt, 1);
  for (bool backward : {false, true}) {
    inject::AgentOutcome out = backward ? rt.backward() : rt.forward();
    require_transferred(out);
    std::string line(reinterpret_cast<const char*>(out.output.data()));
    INFO(line);
    CHECK(line.find(" type_threads=2 write_threads=2 ") != std::string::npos);
  }
  std::string diff = rt.compare();
  CHECK_MESSAGE(diff.empty(), diff);
}
