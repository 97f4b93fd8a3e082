// memory_costs — what this machine charges for the memory accesses the agents'
// design rests on (issue 15): whether an agent should read its source in place in a
// fork, through /proc/PID/mem, or from a copy in fresh memory. The answer is the
// host's (a VM with shadow page tables charges a hypervisor fault for the first
// touch of every page a fork inherited; fresh memory costs a host fault where free
// pages are reported back to the host), so it is measured, not assumed.
//
//   bazel run -c opt //supervisor/bench:memory_costs -- [MiB of heap, default 320]
//
// A heap of 96-byte blocks is built, then each figure is taken in a fresh fork of
// this process (its pages inherited, none touched since): every page touched in
// place in address order; every block read in place in random order; the heap read
// through /proc/self/mem in 4 MiB windows; the heap copied into fresh memory (huge
// pages advised) through /proc/self/mem, and the random reads on that copy; fresh
// memory touched with and without huge pages. Prints one line per figure.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

constexpr size_t kBlock = 96, kWindow = 4 << 20, kPage = 4096;

struct Heap {
  std::vector<char*> blocks;
  std::vector<uint32_t> order;  // a random permutation of the blocks
  uint64_t lo = ~uint64_t{0}, hi = 0;
};

// Runs `what` in a fork (the heap inherited, untouched) and prints its figure.
template <class F>
void in_fork(const char* name, uint64_t pages, F what) {
  std::fflush(stdout);
  const pid_t c = fork();
  if (c == 0) {
    const double ms = what();
    std::printf("  %-52s %8.1f ms  %6.2f us/page\n", name, ms, ms * 1000 / double(pages));
    std::fflush(stdout);
    _exit(0);
  }
  waitpid(c, nullptr, 0);
}

uint64_t read_self(int fd, char* to, uint64_t from, uint64_t len) {
  uint64_t done = 0;
  while (done < len) {
    const ssize_t n = pread(fd, to + done, len - done, static_cast<off_t>(from + done));
    if (n <= 0) break;
    done += uint64_t(n);
  }
  return done;
}

double fresh_touch(uint64_t bytes, bool huge) {
  char* m = static_cast<char*>(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (m == MAP_FAILED) return -1;
  madvise(m, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  const Clock::time_point t = Clock::now();
  for (uint64_t o = 0; o < bytes; o += kPage) m[o] = 1;
  const double ms = ms_since(t);
  munmap(m, bytes);
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 320;
  if (mib == 0 || mib > 65536) {
    std::fprintf(stderr, "memory_costs: the heap size must be 1-65536 MiB (got %s)\n", argv[1]);
    return 2;
  }
  Heap h;
  const size_t n = mib * (1 << 20) / (kBlock + 16);
  h.blocks.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    char* b = static_cast<char*>(std::malloc(kBlock));
    std::memset(b, int(i), kBlock);
    h.blocks.push_back(b);
    h.lo = std::min(h.lo, uint64_t(b)), h.hi = std::max(h.hi, uint64_t(b) + kBlock);
  }
  h.order.resize(n);
  std::iota(h.order.begin(), h.order.end(), 0u);
  std::shuffle(h.order.begin(), h.order.end(), std::mt19937(1));
  const uint64_t lo = h.lo & ~(kPage - 1), span = ((h.hi - lo) + kPage - 1) & ~(kPage - 1), pages = span / kPage;
  std::printf("heap: %zu blocks of %zu bytes over %.0f MiB (%lu pages); each figure in a fresh fork\n", n, kBlock,
              double(span) / (1 << 20), static_cast<unsigned long>(pages));
  in_fork("every page touched in place, address order", pages, [&] {
    const Clock::time_point t = Clock::now();
    for (uint64_t a = lo; a < lo + span; a += kPage) (void)*reinterpret_cast<volatile const char*>(a);
    return ms_since(t);
  });
  in_fork("every block read in place, random order", pages, [&] {
    const Clock::time_point t = Clock::now();
    for (uint32_t i : h.order) (void)*reinterpret_cast<volatile const uint64_t*>(h.blocks[i]);
    return ms_since(t);
  });
  in_fork("the heap read through /proc/self/mem, 4 MiB windows", pages, [&] {
    const int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    std::vector<char> w(kWindow, 1);
    const Clock::time_point t = Clock::now();
    for (uint64_t a = lo; a < lo + span; a += kWindow) read_self(fd, w.data(), a, std::min<uint64_t>(kWindow, lo + span - a));
    return ms_since(t);
  });
  in_fork("the heap copied into fresh memory (huge pages advised)", pages, [&] {
    const int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    char* c = static_cast<char*>(mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    madvise(c, span, MADV_HUGEPAGE);
    const Clock::time_point t = Clock::now();
    for (uint64_t o = 0; o < span; o += kWindow) read_self(fd, c + o, lo + o, std::min<uint64_t>(kWindow, span - o));
    const double copy = ms_since(t);
    const Clock::time_point t2 = Clock::now();
    for (uint32_t i : h.order) (void)*reinterpret_cast<volatile const uint64_t*>(c + (uint64_t(h.blocks[i]) - lo));
    std::printf("  %-52s %8.1f ms\n", "  then every block of the copy read, random order", ms_since(t2));
    return copy;
  });
  const double small = fresh_touch(span, false);
  std::printf("  %-52s %8.1f ms  %6.2f us/page\n", "fresh memory touched, 4 KiB pages", small,
              small * 1000 / double(pages));
  const double huge = fresh_touch(span, true);
  std::printf("  %-52s %8.1f ms  %6.2f us/page\n", "fresh memory touched, huge pages advised", huge,
              huge * 1000 / double(pages));
  return 0;
}
