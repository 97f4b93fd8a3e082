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
// memory touched with and without huge pages. Prints one line per figure. Then how
// an agent could find a block's index from its base address, for random lookups
// without prefetching: a tag in the word before the block (today's engine writes
// one into each descriptor of its copy, which in a fork would copy every heap page),
// an open-addressing hash of 8-byte slots {offset, index}, and a page directory
// over sorted 32-bit start offsets searched within the page.
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

// The three ways to a block's index from its base address (header comment). The
// addresses come in random order from an array read in sequence, as an agent has
// each pointer in hand; the tag is the block's first word (the blocks are ours).
void lookups(const Heap& h, uint64_t lo, uint64_t span) {
  const size_t n = h.blocks.size();
  std::vector<uint32_t> sizes(n);     // the "table": one word per block, read by index
  std::vector<uint32_t> offsets(n);   // sorted start offsets (the blocks by address)
  std::vector<uint32_t> by_addr(n);
  std::iota(by_addr.begin(), by_addr.end(), 0u);
  std::sort(by_addr.begin(), by_addr.end(), [&](uint32_t a, uint32_t b) { return h.blocks[a] < h.blocks[b]; });
  for (size_t k = 0; k < n; ++k) {
    offsets[k] = uint32_t(uint64_t(h.blocks[by_addr[k]]) - lo), sizes[k] = uint32_t(k);
    std::memcpy(h.blocks[by_addr[k]], &k, sizeof k);  // the tag
  }
  std::vector<uint32_t> dir((span >> 12) + 2);
  for (size_t p = 0, k = 0; p < dir.size(); ++p) {
    while (k < n && (offsets[k] >> 12) < p) ++k;
    dir[p] = uint32_t(k);
  }
  uint64_t slots = 1;
  while (slots < 2 * n) slots <<= 1;
  const int shift = 64 - __builtin_ctzll(slots);
  std::vector<uint64_t> hash(slots, 0);
  const auto slot_of = [&](uint32_t o) { return (uint64_t(o) * 0x9E3779B97F4A7C15ull) >> shift; };
  for (size_t k = 0; k < n; ++k) {
    uint64_t s = slot_of(offsets[k]);
    while (hash[s]) s = (s + 1) & (slots - 1);
    hash[s] = (uint64_t(offsets[k]) + 1) << 32 | k;
  }
  std::vector<uint64_t> queries(n);
  for (size_t j = 0; j < n; ++j) queries[j] = uint64_t(h.blocks[h.order[j]]);
  uint64_t sum = 0;
  Clock::time_point t = Clock::now();
  for (uint64_t a : queries) sum += sizes[*reinterpret_cast<const uint64_t*>(a)];
  const double tag_ms = ms_since(t);
  t = Clock::now();
  for (uint64_t a : queries) {
    const uint32_t o = uint32_t(a - lo);
    uint64_t s = slot_of(o), e;
    while ((e = hash[s]) && uint32_t(e >> 32) != o + 1) s = (s + 1) & (slots - 1);
    sum += e ? sizes[uint32_t(e)] : 0;
  }
  const double hash_ms = ms_since(t);
  t = Clock::now();
  for (uint64_t a : queries) {
    const uint32_t o = uint32_t(a - lo);
    const uint32_t* b = offsets.data() + dir[o >> 12];
    for (uint32_t m = dir[(o >> 12) + 1] - dir[o >> 12] + 1; m > 1;) {
      const uint32_t half = m / 2;
      b = b[half] <= o ? b + half : b;
      m -= half;
    }
    sum += *b == o ? sizes[uint32_t(b - offsets.data())] : 0;
  }
  const double dir_ms = ms_since(t);
  std::printf("index of a block from its base address, %zu random lookups (checksum %lu):\n", n,
              static_cast<unsigned long>(sum & 1));
  std::printf("  %-52s %8.1f ms\n", "a tag in the block (today: the copy's descriptor)", tag_ms);
  std::printf("  %-52s %8.1f ms  (%lu MiB)\n", "hash of 8-byte slots {offset, index}", hash_ms,
              static_cast<unsigned long>(slots * 8 >> 20));
  std::printf("  %-52s %8.1f ms  (%lu MiB)\n", "page directory + sorted offsets", dir_ms,
              static_cast<unsigned long>((n * 4 + dir.size() * 4) >> 20));
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
  lookups(h, lo, span);
  return 0;
}
