// differ_test — the differ on real process pairs: P forked from this test builds
// some state, R is a raw fork of P (as the supervisor makes it), the test changes
// R through /proc/PID/mem or has R map memory, and the differ must see exactly that.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "diff/differ.h"
#include "diff/proc_files.h"
#include "diff/testing/state_pair.h"

using ttst::diff::testing::StatePair;

namespace {

uint64_t g_table[2048];  // 16 KiB of globals, written by P's setup
uint8_t* g_heap;         // 1 MiB heap block, written by P's setup

void setup() {
  for (size_t i = 0; i < 2048; i++) g_table[i] = i * 0x9e3779b97f4a7c15ull;
  g_heap = static_cast<uint8_t*>(malloc(1 << 20));
  for (size_t i = 0; i < (1 << 20); i++) g_heap[i] = static_cast<uint8_t>(i * 7);
}

// Every diff lists the kernel-written rseq fields, as the supervisor will.
ttst::diff::Options opts() {
  ttst::diff::Options o;
  o.kernel_fields = ttst::diff::testing::caller_rseq_fields();
  return o;
}

uint64_t addr(const void* p) { return reinterpret_cast<uint64_t>(p); }

// Reads P's value of g_heap (set in P only).
uint8_t* heap_of(pid_t p) {
  uint8_t* h = nullptr;
  struct iovec l{&h, sizeof h}, r{&g_heap, sizeof h};
  REQUIRE(process_vm_readv(p, &l, 1, &r, 1, 0) == sizeof h);
  return h;
}

std::string dump(const ttst::diff::Result& res) {
  std::string s;
  for (auto& m : res.mappings) s += m.describe() + "\n";
  for (auto& b : res.bytes) s += "bytes at " + std::to_string(b.addr) + " len " + std::to_string(b.len) + "\n";
  return s;
}

// A page-aligned range of `len` bytes that nothing maps, far from every
// allocator (also ASan's), with a free megabyte on each side so nothing merges.
uint64_t free_range(size_t len) {
  const uint64_t at = 0x200000000000;  // 32 TiB: above the heap, below mmap's area
  for (auto& m : ttst::sys::read_maps(getpid())) REQUIRE((m.end + (1 << 20) <= at || m.start >= at + len + (1 << 20)));
  return at;
}

ttst::sys::Mapping mapping_at(pid_t pid, uint64_t start) {
  for (auto& m : ttst::sys::read_maps(pid))
    if (m.start == start) return m;
  FAIL("no mapping at the address");
  return {};
}

}  // namespace

TEST_CASE("a fresh R is equal to P, mostly without reading a page") {
  StatePair pair(setup);
  ttst::diff::Result res = ttst::diff::diff_processes(pair.p(), pair.r(), opts());
  INFO(dump(res));
  CHECK(res.equal());
  CHECK(res.stats.mode == "frames");
  CHECK(res.stats.pages_same_frame > 256);  // g_table and the heap block at least
  CHECK(res.stats.pages_read < res.stats.pages_same_frame / 10);
}

TEST_CASE("one changed byte in a global and one flipped bit on the heap are found exactly") {
  StatePair pair(setup);
  uint8_t* heap = heap_of(pair.p());
  ttst::diff::testing::poke_value<uint64_t>(pair.r(), &g_table[100], 42);
  uint8_t b = static_cast<uint8_t>(12345 * 7) ^ 0x20;
  ttst::diff::testing::poke_value<uint8_t>(pair.r(), heap + 12345, b);
  for (bool frames : {true, false}) {
    ttst::diff::Options o = opts();
    o.use_frames = frames;
    ttst::diff::Result res = ttst::diff::diff_processes(pair.p(), pair.r(), o);
    INFO(dump(res));
    CHECK(res.mappings.empty());
    REQUIRE(res.bytes.size() == 2);
    const uint64_t want_p = 100 * 0x9e3779b97f4a7c15ull, want_r = 42;
    // Only the bytes that differ between the two values.
    uint64_t x = want_p ^ want_r;
    size_t first = static_cast<size_t>(__builtin_ctzll(x)) / 8, last = static_cast<size_t>(63 - __builtin_clzll(x)) / 8;
    const ttst::diff::ByteDiff* g = &res.bytes[0];
    const ttst::diff::ByteDiff* h = &res.bytes[1];
    if (g->addr > h->addr) std::swap(g, h);
    if (addr(&g_table[100]) > addr(heap)) std::swap(g, h);
    CHECK(g->addr == addr(&g_table[100]) + first);
    CHECK(g->len == last - first + 1);
    CHECK(memcmp(g->p.data(), reinterpret_cast<const uint8_t*>(&want_p) + first, g->len) == 0);
    CHECK(memcmp(g->r.data(), reinterpret_cast<const uint8_t*>(&want_r) + first, g->len) == 0);
    CHECK(h->addr == addr(heap) + 12345);
    CHECK(h->len == 1);
    CHECK(h->p == std::vector<uint8_t>{static_cast<uint8_t>(12345 * 7)});
    CHECK(h->r == std::vector<uint8_t>{b});
    if (frames) {
      CHECK(res.stats.mode == "frames");
    } else {
      CHECK(res.stats.mode.rfind("full (frames not used", 0) == 0);
      CHECK(res.stats.pages_same_frame == 0);
    }
  }
}

// Options::widen (pre-copy's spans): each changed range with its context of the
// page, ranges of a page closer than the context one, P's bytes all kept, the
// count of differing bytes exact; never across a page.
TEST_CASE("widened ranges: context within the page, close ones joined, the count exact") {
  StatePair pair(setup);
  uint8_t* heap = heap_of(pair.p());
  const uint64_t page = (addr(heap) + 3 * 4096) & ~uint64_t{4095};
  const auto flip = [&](uint64_t at) {
    ttst::diff::testing::poke_value<uint8_t>(pair.r(), reinterpret_cast<uint8_t*>(at),
                                            static_cast<uint8_t>((at - addr(heap)) * 7) ^ 0x01);
  };
  flip(page + 1000), flip(page + 1100);  // 100 bytes apart: one range
  flip(page + 3000);                     // alone
  flip(page + 4096 + 10);                // near the next page's start: clipped there
  ttst::diff::Options o = opts();
  o.widen = 64;
  o.max_shown_bytes = size_t{1} << 20;
  const ttst::diff::Result res = ttst::diff::diff_processes(pair.p(), pair.r(), o);
  INFO(dump(res));
  REQUIRE(res.bytes.size() == 3);
  CHECK(res.bytes[0].addr == page + 1000 - 64);
  CHECK(res.bytes[0].len == 1100 + 65 - (1000 - 64));
  CHECK(res.bytes[1].addr == page + 3000 - 64);
  CHECK(res.bytes[1].len == 129);
  CHECK(res.bytes[2].addr == page + 4096);
  CHECK(res.bytes[2].len == 10 + 65);
  CHECK(res.bytes_in_ranges == 4);
  for (const ttst::diff::ByteDiff& b : res.bytes) {
    REQUIRE(b.p.size() == b.len);
    for (uint64_t i = 0; i < b.len; ++i) CHECK(b.p[i] == static_cast<uint8_t>((b.addr + i - addr(heap)) * 7));
  }
}

TEST_CASE("pages rewritten with the same bytes are read and found equal") {
  StatePair pair(setup);
  uint8_t* heap = heap_of(pair.p());
  std::vector<uint8_t> same(1 << 20);
  for (size_t i = 0; i < same.size(); i++) same[i] = static_cast<uint8_t>(i * 7);
  ttst::diff::testing::poke(pair.r(), addr(heap), same.data(), same.size());
  ttst::diff::Result res = ttst::diff::diff_processes(pair.p(), pair.r(), opts());
  INFO(dump(res));
  CHECK(res.equal());
  CHECK(res.stats.pages_read >= 256);
}

TEST_CASE("differences beyond the cap are counted, not kept") {
  StatePair pair(setup);
  uint8_t* heap = heap_of(pair.p());
  for (size_t i = 0; i < 300; i++) {
    uint8_t v = static_cast<uint8_t>(i * 64 * 7) ^ 1;
    ttst::diff::testing::poke_value<uint8_t>(pair.r(), heap + i * 64, v);
  }
  ttst::diff::Options o = opts();
  o.max_diffs = 50;
  ttst::diff::Result res = ttst::diff::diff_processes(pair.p(), pair.r(), o);
  CHECK(res.bytes.size() == 50);
  CHECK(res.more_byte_diffs == 250);
  CHECK(res.bytes_in_ranges == 300);
  CHECK(!res.equal());
}

TEST_CASE("an extra writable mapping in R is a difference") {
  const uint64_t at = free_range(8 * 4096);
  StatePair pair(setup, at, 8 * 4096, PROT_READ | PROT_WRITE);
  ttst::diff::Result res = ttst::diff::diff_processes(pair.p(), pair.r(), opts());
  INFO(dump(res));
  REQUIRE(res.mappings.size() == 1);
  CHECK(res.mappings[0].kind == ttst::diff::MappingDiff::OnlyInR);
  CHECK(res.mappings[0].r.start == at);
  CHECK(res.mappings[0].r.end == at + 8 * 4096);
  CHECK(res.bytes.empty());
}

TEST_CASE("a mapping grown at its end in R is a changed mapping, and its common part is still compared") {
  static uint64_t at;
  at = free_range(32 * 4096);
  // P maps 8 pages (untouched, so that the kernel may merge); R then maps the 8
  // after them, which the kernel merges into one longer mapping (as a brk heap grows).
  StatePair pair([] {
    setup();
    void* m = mmap(reinterpret_cast<void*>(at), 8 * 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m != reinterpret_cast<void*>(at)) abort();
  }, at + 8 * 4096, 8 * 4096, PROT_READ | PROT_WRITE);
  const uint8_t changed = 0x11;
  ttst::diff::testing::poke(pair.r(), at + 3 * 4096 + 100, &changed, 1);
  ttst::diff::Result res = ttst::diff::diff_processes(pair.p(), pair.r(), opts());
  INFO(dump(res));
  REQUIRE(mapping_at(pair.r(), at).end == at + 16 * 4096);  // merged: the premise
  REQUIRE(res.mappings.size() == 1);
  CHECK(res.mappings[0].kind == ttst::diff::MappingDiff::Changed);
  CHECK(res.mappings[0].p.end == at + 8 * 4096);
  CHECK(res.mappings[0].r.end == at + 16 * 4096);
  REQUIRE(res.bytes.size() == 1);
  CHECK(res.bytes[0].addr == at + 3 * 4096 + 100);
}

TEST_CASE("the agent region is ignored only when it is exactly the one created") {
  const uint64_t at = free_range(16 * 4096);
  StatePair pair(setup, at, 4 * 4096, PROT_READ | PROT_WRITE);
  const ttst::sys::Mapping agent = mapping_at(pair.r(), at);
  auto diff_with = [&](const ttst::sys::Mapping& claimed) {
    ttst::diff::Options o = opts();
    o.agent_regions = {claimed};
    return ttst::diff::diff_processes(pair.p(), pair.r(), o);
  };
  SUBCASE("exact: ignored") { CHECK(diff_with(agent).equal()); }
  SUBCASE("claimed region ends later: not ignored") {
    ttst::sys::Mapping m = agent;
    m.end += 4096;
    CHECK(diff_with(m).mappings.size() == 1);
  }
  SUBCASE("claimed region starts earlier: not ignored") {
    ttst::sys::Mapping m = agent;
    m.start -= 4096;
    CHECK(diff_with(m).mappings.size() == 1);
  }
  SUBCASE("claimed with other permissions: not ignored") {
    ttst::sys::Mapping m = agent;
    m.perms = "r-xp";
    CHECK(diff_with(m).mappings.size() == 1);
  }
  SUBCASE("claimed as a file mapping: not ignored") {
    ttst::sys::Mapping m = agent;
    m.path = "/memfd:ttst-agent (deleted)";
    CHECK(diff_with(m).mappings.size() == 1);
  }
  SUBCASE("no region claimed: a difference") { CHECK(diff_with({}).mappings.size() == 1); }
}

TEST_CASE("an agent region merged into a neighbouring mapping is a difference") {
  // P owns an anonymous mapping; R maps its "agent region" right after it, so the
  // kernel merges the two: R's neighbour no longer matches P's.
  const uint64_t at = free_range(16 * 4096);
  StatePair pair([&] {
    setup();
    REQUIRE(mmap(reinterpret_cast<void*>(at), 4 * 4096, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != MAP_FAILED);
  }, at + 4 * 4096, 4 * 4096, PROT_READ | PROT_WRITE);
  ttst::sys::Mapping claimed = mapping_at(pair.p(), at);  // what a careless supervisor might pass
  claimed.start = at + 4 * 4096;
  claimed.end = at + 8 * 4096;
  ttst::diff::Options o = opts();
  o.agent_regions = {claimed};
  ttst::diff::Result res = ttst::diff::diff_processes(pair.p(), pair.r(), o);
  INFO(dump(res));
  REQUIRE(res.mappings.size() == 1);  // P's [at, +4 pages) against R's merged [at, +8 pages)
  CHECK(res.mappings[0].kind == ttst::diff::MappingDiff::Changed);
  CHECK(res.mappings[0].p.end == at + 4 * 4096);
  CHECK(res.mappings[0].r.end == at + 8 * 4096);
}

TEST_CASE("listed kernel-written fields are masked, nothing else") {
  StatePair pair(setup);
  ttst::diff::testing::poke_value<uint64_t>(pair.r(), &g_table[7], 1);
  ttst::diff::testing::poke_value<uint64_t>(pair.r(), &g_table[9], 1);
  ttst::diff::Options o = opts();
  o.kernel_fields.push_back({addr(&g_table[7]), 8, "pretend rseq"});
  ttst::diff::Result res = ttst::diff::diff_processes(pair.p(), pair.r(), o);
  REQUIRE(res.bytes.size() == 1);
  CHECK(res.bytes[0].addr >= addr(&g_table[9]));
  CHECK(res.bytes[0].addr < addr(&g_table[10]));
}

TEST_CASE("a process that is gone is an error, never equal") {
  pid_t p;
  {
    StatePair pair(setup);
    p = pair.p();
  }
  CHECK_THROWS(ttst::diff::diff_processes(p, p));
}

namespace {
uint8_t* g_big;     // 40 MiB mapping: spans three 16 MiB work chunks
uint8_t* g_hidden;  // a written page made PROT_NONE afterwards
}  // namespace

TEST_CASE("a range across a work-chunk boundary is one range; a change behind PROT_NONE is seen") {
  StatePair pair([] {
    setup();
    g_big = static_cast<uint8_t*>(mmap(nullptr, 40 << 20, PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    memset(g_big, 0x11, 40 << 20);
    g_hidden = static_cast<uint8_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    memset(g_hidden, 0x22, 4096);
    mprotect(g_hidden, 4096, PROT_NONE);
  });
  uint8_t *big = nullptr, *hidden = nullptr;
  iovec l[2] = {{&big, 8}, {&hidden, 8}}, r[2] = {{&g_big, 8}, {&g_hidden, 8}};
  REQUIRE(process_vm_readv(pair.p(), l, 2, r, 2, 0) == 16);
  // The chunk boundary is 16 MiB after the start of the mapping holding g_big
  // (the kernel may have merged it with a neighbour).
  uint64_t boundary = 0;
  for (auto& m : ttst::sys::read_maps(pair.p()))
    if (m.start <= addr(big) && addr(big) < m.end) boundary = m.start + (16 << 20);
  REQUIRE(boundary >= addr(big) + 8);
  REQUIRE(boundary + 8 <= addr(big) + (40 << 20));
  std::vector<uint8_t> ones(16, 0xee);
  ttst::diff::testing::poke(pair.r(), boundary - 8, ones.data(), 16);
  ttst::diff::testing::poke(pair.r(), addr(hidden) + 100, ones.data(), 1);
  for (unsigned threads : {1u, 2u, 3u}) {
    ttst::diff::Options o = opts();
    o.threads = threads;
    ttst::diff::Result res = ttst::diff::diff_processes(pair.p(), pair.r(), o);
    INFO(dump(res));
    REQUIRE(res.bytes.size() == 2);
    const ttst::diff::ByteDiff& b = res.bytes[0].addr == boundary - 8 ? res.bytes[0] : res.bytes[1];
    const ttst::diff::ByteDiff& h = &b == &res.bytes[0] ? res.bytes[1] : res.bytes[0];
    CHECK(b.addr == boundary - 8);
    CHECK(b.len == 16);
    CHECK(b.p == std::vector<uint8_t>(16, 0x11));
    CHECK(b.r == ones);
    CHECK(h.addr == addr(hidden) + 100);
    CHECK(h.len == 1);
    CHECK(h.p == std::vector<uint8_t>{0x22});
  }
}

namespace {
uint8_t* g_huge;  // a 64 GiB reservation with a few pages in use (like an ASan shadow)
constexpr uint64_t kHuge = uint64_t{64} << 30;
}  // namespace

TEST_CASE("a huge sparse mapping costs only its populated pages; changes in it are found") {
  StatePair pair([] {
    setup();
    g_huge = static_cast<uint8_t*>(mmap(nullptr, kHuge, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    for (uint64_t off : {uint64_t{0}, kHuge / 3, kHuge - 4096}) g_huge[off + 5] = 0x33;
  });
  uint8_t* huge = nullptr;
  iovec l{&huge, 8}, r{&g_huge, 8};
  REQUIRE(process_vm_readv(pair.p(), &l, 1, &r, 1, 0) == 8);
  ttst::diff::testing::poke_value<uint8_t>(pair.r(), huge + kHuge / 3 + 5, 0x34);    // populated in both
  ttst::diff::testing::poke_value<uint8_t>(pair.r(), huge + kHuge / 2 + 7, 0x01);    // populated in R only
  ttst::diff::Result res = ttst::diff::diff_processes(pair.p(), pair.r(), opts());
  INFO(dump(res));
  REQUIRE(res.bytes.size() == 2);
  CHECK(res.bytes[0].addr == addr(huge) + kHuge / 3 + 5);
  CHECK(res.bytes[1].addr == addr(huge) + kHuge / 2 + 7);
  CHECK(res.bytes[1].p == std::vector<uint8_t>{0});
  CHECK(res.stats.pages_total >= kHuge / 4096);
  // Skipped without reading a pagemap entry per page (that would take seconds).
  CHECK(res.stats.pages_unpopulated >= kHuge / 4096 - 8);
}

namespace {

// Frames of `pages` pages at `at` in pid's page table (0: not present).
std::vector<uint64_t> frames_of(pid_t pid, uint64_t at, size_t pages) {
  ttst::diff::Pagemap pm(pid);
  std::vector<ttst::diff::PageEntry> e(pages);
  REQUIRE(pm.read(at, pages, e.data()));
  std::vector<uint64_t> f;
  for (const auto& x : e) f.push_back(x.pfn());
  return f;
}

// Compares A (sharing `region`'s frames with this process) with B (which rewrote
// every page of it) reading A's side as `reads` says; A's frames after.
std::vector<uint64_t> frames_after_diff(uint8_t* region, size_t pages, ttst::diff::PageReads reads) {
  const pid_t a = fork();
  if (a == 0) for (;;) pause();
  const pid_t b = fork();
  if (b == 0) {
    for (size_t i = 0; i < pages * 4096; i += 4096) region[i] ^= 1;
    for (;;) pause();
  }
  usleep(50000);
  ttst::diff::Options o = opts();
  o.p_reads = reads;
  const ttst::diff::Result res = ttst::diff::diff_processes(a, b, o);
  CHECK(res.stats.pages_read >= pages);
  std::vector<uint64_t> f = frames_of(a, addr(region), pages);
  kill(a, SIGKILL), kill(b, SIGKILL);
  waitpid(a, nullptr, 0), waitpid(b, nullptr, 0);
  return f;
}

}  // namespace

// A pre-copy key's frames are how its next comparison finds what P did not write:
// read plainly, a clone's pages stay on the frames it shares; pinned
// (process_vm_readv), the kernel gives it a copy of each (Linux 5.19+).
TEST_CASE("P's side read plainly keeps the frames it shares with another process; pinned, it does not") {
  constexpr size_t kPages = 32;
  auto* region = static_cast<uint8_t*>(mmap(nullptr, kPages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  REQUIRE(region != MAP_FAILED);
  memset(region, 0x6b, kPages * 4096);
  const std::vector<uint64_t> mine = frames_of(getpid(), addr(region), kPages);
  REQUIRE(mine[0] != 0);  // frames visible (root)
  CHECK(frames_after_diff(region, kPages, ttst::diff::PageReads::kPlain) == mine);
  const std::vector<uint64_t> pinned = frames_after_diff(region, kPages, ttst::diff::PageReads::kPinned);
  size_t moved = 0;
  for (size_t i = 0; i < kPages; ++i) moved += pinned[i] != mine[i];
  CHECK(moved == kPages);
  munmap(region, kPages * 4096);
}
