// diff_bench — prints how fast the differ compares a 1 GiB state (a benchmark, not
// a test). P fills N MiB of anonymous memory; R is a raw fork of P; the bench then
// rewrites pages of R with the bytes they already hold, so those pages sit on new
// physical frames with equal content — the work the differ cannot skip:
//   all dirty  every page rewritten   goal >= 5 GB/s
//   1% dirty   every 100th page       goal >= 50 GB/s effective (state size / time)
// Usage: diff_bench [MiB=1024] [repetitions=3] [threads=2] [only=all|dirty|1pct|none|full]
#include <sys/mman.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "diff/differ.h"
#include "diff/testing/state_pair.h"

namespace {

uint8_t* g_state;
size_t g_size;

uint8_t pattern(size_t i) { return static_cast<uint8_t>((i >> 12) * 31 + (i & 0xfff) * 7 + 1); }

void setup() {
  g_state = static_cast<uint8_t*>(
      mmap(nullptr, g_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (g_state == MAP_FAILED) _Exit(3);
  for (size_t i = 0; i < g_size; i++) g_state[i] = pattern(i);
}

unsigned g_threads = 2;

void run(const char* name, size_t every_nth_page, bool use_frames, int reps, double goal) {
  ttst::diff::testing::StatePair pair(setup);
  uint8_t* state = nullptr;
  // g_state was set in P only; P is a fork of us, so read it from P.
  {
    struct iovec l{&state, sizeof state}, r{&g_state, sizeof state};
    if (process_vm_readv(pair.p(), &l, 1, &r, 1, 0) != sizeof state) {
      fprintf(stderr, "diff_bench: cannot read P's state address\n");
      exit(2);
    }
  }
  std::vector<uint8_t> page(4096);
  size_t dirtied = 0;
  for (size_t off = 0; off < g_size; off += 4096 * every_nth_page) {
    for (size_t i = 0; i < 4096; i++) page[i] = pattern(off + i);
    ttst::diff::testing::poke(pair.r(), reinterpret_cast<uint64_t>(state) + off, page.data(), 4096);
    dirtied++;
  }
  ttst::diff::Options o;
  o.kernel_fields = ttst::diff::testing::caller_rseq_fields();
  o.use_frames = use_frames;
  o.threads = g_threads;
  std::vector<double> secs;
  ttst::diff::Result res;
  for (int k = 0; k < reps; k++) {
    res = ttst::diff::diff_processes(pair.p(), pair.r(), o);
    if (!res.equal()) {
      fprintf(stderr, "diff_bench: P and R differ, the bench is broken\n");
      exit(1);
    }
    secs.push_back(res.stats.elapsed_s);
  }
  std::sort(secs.begin(), secs.end());
  const double best = secs.front(), median = secs[secs.size() / 2];
  const double state_gb = static_cast<double>(g_size) / 1e9;
  printf("%-22s %8zu pages dirty  median %7.1f ms  best %7.1f ms  effective %6.1f GB/s (best %6.1f)"
         "  read %6.1f MB  goal %s%.0f GB/s: %s\n",
         name, dirtied, median * 1e3, best * 1e3, state_gb / median, state_gb / best,
         static_cast<double>(res.stats.bytes_compared) / 1e6, goal > 0 ? ">= " : "", goal,
         goal <= 0 ? "(reference)" : state_gb / median >= goal ? "met" : "MISSED");
  printf("%-22s mode: %s; pages total %lu, same frame %lu, absent %lu, file %lu, read %lu\n", "",
         res.stats.mode.c_str(), res.stats.pages_total, res.stats.pages_same_frame,
         res.stats.pages_absent, res.stats.pages_file, res.stats.pages_read);
}

}  // namespace

int main(int argc, char** argv) {
  const long mib = argc > 1 ? atol(argv[1]) : 1024;
  const int reps = argc > 2 ? atoi(argv[2]) : 3;
  const int threads = argc > 3 ? atoi(argv[3]) : 2;
  const std::string only = argc > 4 ? argv[4] : "all";
  if (mib <= 0 || reps <= 0 || threads <= 0) {
    fprintf(stderr, "usage: diff_bench [MiB > 0] [repetitions > 0] [threads > 0] [all|dirty|1pct|none|full]\n");
    return 2;
  }
  g_threads = static_cast<unsigned>(threads);
  g_size = static_cast<size_t>(mib) << 20;
  printf("diff_bench: state %ld MiB, %d repetitions, %d threads, whole-process diff (includes the state)\n",
         mib, reps, threads);
  if (only == "all" || only == "dirty") run("all pages dirty", 1, true, reps, 5);
  if (only == "all" || only == "1pct") run("1% of pages dirty", 100, true, reps, 50);
  if (only == "all" || only == "none") run("none dirty", 1u << 30, true, reps, 0);
  if (only == "all" || only == "full") run("all dirty, no frames", 1, false, reps, 0);
  return 0;
}
