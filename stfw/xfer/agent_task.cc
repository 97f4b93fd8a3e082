// agent_task.cc — the TTST_AGENT_TASK_STFW_FORWARD/BACKWARD tasks (stfw_task.h):
// bulk-reads the peer's writable memory, runs the engine, reports status, counters
// and the message. Runs inside the agent (UNTRUSTED, freestanding).
//
// TTST_AGENT_TASK_STFW_DELTA (pre-copy stage 2): a run with TTST_STFW_F_KEEP keeps
// its engine and everything its callbacks reach in the arena (the supervisor keeps
// the region); the delta task, run later in that region, takes the peer's changed
// ranges' bytes from its input (or reads them) and runs the engine's second run
// (engine.h transfer_delta).
//
// Source access: /proc/PEER/maps lists the peer's mappings; every readable and
// writable one (except [vvar]/[vsyscall]) is copied into the agent's arena with
// process_vm_readv, up to 512 ranges per call. Forward allocations go through the
// program's own runtime: __ttst_transfer_alloc (stfw/runtime/ttst_runtime.c),
// found by name in this process's metadata image.
#include "stfw/stfw_task.h"
#include "stfw/xfer/agent_output.h"
#include "stfw/xfer/elf_image.h"
#include "stfw/xfer/elf_initial.h"
#include "stfw/xfer/engine.h"
#include "stfw/xfer/epoll_rebuild.h"
#include "stfw/xfer/libevent_adapter.h"
#include "stfw/xfer/libraries.h"
#include "stfw/xfer/proc_maps.h"
#include "stfw/xfer/process_strings.h"
#include "stfw/xfer/user_plugin.h"

extern "C" {
#include "inject/agent/agent_abi.h"
#include "inject/agent/alloc.h"
#include "inject/agent/helper.h"
#include "inject/agent/sys.h"
#include "inject/agent/tasks.h"
}

// Placement construction in the arena (no <new> freestanding).
struct ArenaTag {};
inline void* operator new(size_t, void* p, ArenaTag) noexcept { return p; }
inline void operator delete(void*, void*, ArenaTag) noexcept {}

namespace {

using ttst::stfw::Region;

// A T constructed in the agent's arena (never destroyed: the arena goes with the
// region), or NULL when the arena is exhausted.
template <class T, class... Args>
T* arena_new(Args&&... args) {
  void* p = agent_alloc(sizeof(T), 16);
  return p ? new (p, ArenaTag{}) T(static_cast<Args&&>(args)...) : nullptr;
}

constexpr long kSysMadvise = 28, kMadvHugepage = 14;
constexpr long kSysPread64 = 17, kSysOpen = 2, kSysClose = 3, kOCloexec = 02000000;

// A large block (the object table, the typing's arrays) is faulted in by the
// helper thread (inject/agent/helper.h) while the engine starts filling it.
constexpr uint64_t kPrefaultMin = 8ull << 20;

void* scratch(void*, uint64_t size) {
  void* p = agent_alloc(size, 16);
  if (p && size >= kPrefaultMin) agent_prefault(reinterpret_cast<uint64_t>(p), size);
  return p;
}

// A block of which only the first `filled` bytes are written now (a kept object
// table's room): those alone faulted in.
void* scratch_room(void*, uint64_t size, uint64_t filled) {
  void* p = agent_alloc(size, 16);
  if (p && filled >= kPrefaultMin) agent_prefault(reinterpret_cast<uint64_t>(p), filled < size ? filled : size);
  return p;
}

// The engine's second writer runs on the helper thread (Env::beside).
bool beside(void*, void (*fn)(void*), void* arg) { return agent_beside(fn, arg) == 0; }
void beside_wait(void*) { agent_beside_wait(); }

// What the engine's callbacks (Env) need: the peer, the runtime's hooks here, symbols.
struct CallbackContext {
  int peer;
  uint64_t alloc_fn, free_fn, reserve_fn, reserve_ahead_fn;
  ttst::stfw::LibrarySymbols* symbols;
  ttst::stfw::LibeventReplay* libevent;  // forward: adapter 0's run-time part (library_state.h)
  ttst::stfw::InitialImage* initial = nullptr;  // forward: P's executable's initializers (elf_initial.h)
  long own_mem = -1;  // backward: /proc/self/mem (Env::read_own), or -1
};

// The library adapters' hooks (engine.h Env::library_*): one adapter, libevent.
// Adapters without a run-time part (stdio) get nothing.
void library_release(void* c, uint32_t adapter, uint64_t lo, uint64_t hi, uint32_t dst_type) {
  if (adapter == ttst::stfw::kLibeventAdapterIndex) static_cast<CallbackContext*>(c)->libevent->release(lo, hi, dst_type);
}
void library_embedded(void* c, uint32_t adapter, uint64_t dst, const uint8_t* src, uint32_t src_type,
                      uint32_t dst_type, const char* name) {
  if (adapter == ttst::stfw::kLibeventAdapterIndex)
    static_cast<CallbackContext*>(c)->libevent->embedded(dst, src, src_type, dst_type, name);
}
void library_handle(void* c, uint32_t adapter, uint64_t src, uint64_t dst) {
  if (adapter == ttst::stfw::kLibeventAdapterIndex) static_cast<CallbackContext*>(c)->libevent->handle(src, dst);
}

uint64_t library_symbol(void* c, const ttst::stfw::LibRange* lib, uint64_t v, char* symbol, uint64_t cap) {
  return static_cast<CallbackContext*>(c)->symbols->translate(lib, v, symbol, cap);
}

long read_initial(void* c, uint64_t link_addr, void* buf, uint64_t len) {
  return static_cast<CallbackContext*>(c)->initial->read(link_addr, buf, len);
}

long read_source(void* c, uint64_t addr, void* buf, uint64_t len) {
  CallbackContext* x = static_cast<CallbackContext*>(c);
  // Stay within the page when the string runs to its end: try shorter reads.
  for (uint64_t n = len; n >= 64; n /= 2) {
    long r = agent_read_peer(x->peer, buf, addr, n);
    if (r > 0) return r;
  }
  uint64_t to_page = 4096 - (addr & 4095);
  return agent_read_peer(x->peer, buf, addr, to_page < len ? to_page : len);
}

uint64_t alloc_in_program(void* c, uint64_t size, uint64_t site, uint64_t origin) {
  CallbackContext* x = static_cast<CallbackContext*>(c);
  using Fn = void* (*)(uint64_t, uint64_t, uint64_t);
  return reinterpret_cast<uint64_t>(reinterpret_cast<Fn>(x->alloc_fn)(size, site, origin));
}

// Reads [addr, addr + len) of the process whose /proc/PID/mem is `fd` into `buf`:
// the bytes read (fewer where an unreadable page stops it), or < 0 when the first
// page is unreadable.
long read_mem(long fd, void* buf, uint64_t addr, uint64_t len) {
  uint64_t done = 0;
  while (done < len) {
    long r = agent_syscall6(kSysPread64, fd, reinterpret_cast<long>(static_cast<uint8_t*>(buf) + done),
                            long(len - done), long(addr + done), 0, 0);
    if (r <= 0) return done ? long(done) : (r < 0 ? r : -1);
    done += uint64_t(r);
  }
  return long(done);
}

long read_own(void* c, uint64_t addr, void* buf, uint64_t len) {
  return read_mem(static_cast<CallbackContext*>(c)->own_mem, buf, addr, len);
}

void reserve_in_program(void* c, uint64_t bytes) {
  CallbackContext* x = static_cast<CallbackContext*>(c);
  using Fn = void (*)(uint64_t);
  reinterpret_cast<Fn>(x->reserve_fn)(bytes);
}

// The heap grown ahead of the allocations (Env::reserve_ahead), its new pages
// faulted in by the helper thread (inject/agent/helper.h) while the engine types.
void reserve_ahead_in_program(void* c, uint64_t bytes) {
  CallbackContext* x = static_cast<CallbackContext*>(c);
  uint64_t range[2] = {0, 0};
  using Fn = void (*)(uint64_t, uint64_t*);
  reinterpret_cast<Fn>(x->reserve_ahead_fn)(bytes, range);
  if (range[1] > range[0]) agent_prefault(range[0], range[1] - range[0]);
}

void free_in_program(void* c, uint64_t addr) {
  CallbackContext* x = static_cast<CallbackContext*>(c);
  using Fn = void (*)(uint64_t);
  reinterpret_cast<Fn>(x->free_fn)(addr);
}

// CPU time of this thread (CLOCK_THREAD_CPUTIME_ID), for the benchmark's figures.
uint64_t thread_cpu_ns() {
  constexpr long kSysClockGettime = 228, kClockThreadCputime = 3;
  struct {
    long sec, nsec;
  } now{0, 0};
  if (agent_syscall3(kSysClockGettime, kClockThreadCputime, reinterpret_cast<long>(&now), 0) != 0) return 0;
  return uint64_t(now.sec) * 1000000000ull + uint64_t(now.nsec);
}

// The copy on both CPUs: the regions' bytes, laid end to end, are split in the
// middle; the helper thread (inject/agent/helper.h) reads the upper half while this
// thread reads the lower one, each faulting its half of the fresh buffer in as it
// goes (on a VM that backs memory lazily, most of the copy's time). A region any
// read of which failed (raced unmapping) is dropped.
//
// Pages of the peer never touched are not read: in a private anonymous mapping a
// page neither present nor swapped (/proc/PEER/pagemap) reads as zeros, which the
// fresh arena already holds without a page fault. A threaded server's stacks are
// mostly such pages (memcached 1.6: ten threads of 8 MiB, 80 of its 94 MiB of
// writable memory), and reading them made the agent fault in and zero as much.
// The arena is advised huge pages (request_huge_pages), so the one touched page at
// the top of such a stack still cost a 2 MiB page, zeroed: memcached 1.6's 11 MiB
// of touched pages lie in 28 sparse 2 MiB windows (its stacks, libc's arenas), and
// the kernel's clear_page was up to 46 % of an agent's samples (a first touch of
// guest memory is a host fault on this VM). Where a batch of the peer's pages is
// sparse, its part of the arena is advised small pages before the read.
struct CopyShare {
  long fd, pagemap;  // pagemap < 0: every page read
  Region* regs;
  int64_t count;
  uint64_t middle, total;
  uint8_t* failed;  // per region
  const Region* anon;  // the peer's private anonymous mappings, by address
  int64_t anon_count;
  uint64_t untouched[2];  // bytes left out: [0] this thread's half, [1] the helper's
  uint64_t small[2];      // bytes of the arena advised small pages (sparse batches), by half
  Region* zeros[2];       // the ranges left out, in address order: [0] this thread's, [1] the helper's
  uint64_t zero_count[2], zero_capacity;
};

constexpr uint64_t kPage = 4096;
constexpr uint64_t kPagePresent = 1ull << 63, kPageSwapped = 1ull << 62;
constexpr long kMadvDontneed = 4, kMadvNohugepage = 15;
// A batch of the peer's pages (up to 2 MiB) with fewer touched than this fraction
// (1 / kSparse) is copied onto small pages (below).
constexpr uint64_t kSparse = 8;

bool in_anonymous(const CopyShare* s, uint64_t addr) {
  int64_t lo = 0, hi = s->anon_count;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (addr < s->anon[mid].addr) hi = mid;
    else if (addr - s->anon[mid].addr >= s->anon[mid].size) lo = mid + 1;
    else return true;
  }
  return false;
}

// A range of the peer left out (never touched), recorded for Config::zero_ranges
// (joined to the one before when they meet; none recorded once the list is full).
void note_zeros(CopyShare* s, int half, uint64_t addr, uint64_t n) {
  Region* list = s->zeros[half];
  uint64_t& count = s->zero_count[half];
  if (!list) return;
  if (count && list[count - 1].addr + list[count - 1].size == addr) list[count - 1].size += n;
  else if (count < s->zero_capacity) list[count++] = Region{addr, n, nullptr};
}

// [addr, addr + len) of the peer into `into`: false when a read came short.
// *untouched counts the bytes left out.
bool read_touched(CopyShare* s, int half, uint8_t* into, uint64_t addr, uint64_t len, uint64_t* untouched) {
  uint64_t entries[512];
  while (len) {
    const uint64_t pages = len / kPage < 512 ? len / kPage : 512;
    const bool anonymous = pages && (in_anonymous(s, addr) || in_anonymous(s, addr + (pages - 1) * kPage));
    const long got = anonymous && s->pagemap >= 0 ? agent_syscall6(kSysPread64, s->pagemap, reinterpret_cast<long>(entries),
                                                                   long(pages * 8), long(addr / kPage * 8), 0, 0)
                                                  : -1;
    if (got != long(pages * 8))  // not anonymous (or unreadable): every byte read
      return read_mem(s->fd, into, addr, len) == long(len);
    const auto never_touched = [&](uint64_t k) {
      return !(entries[k] & (kPagePresent | kPageSwapped)) && in_anonymous(s, addr + k * kPage);
    };
    uint64_t touched = 0;
    for (uint64_t k = 0; k < pages; ++k) touched += !never_touched(k);
    if (touched && touched * kSparse < pages &&
        agent_syscall3(kSysMadvise, reinterpret_cast<long>(into), long(pages * kPage), kMadvNohugepage) == 0)
      s->small[half] += pages * kPage;
    for (uint64_t k = 0; k < pages;) {  // runs of pages alike
      const bool skip = never_touched(k);
      uint64_t run = k + 1;
      while (run < pages && never_touched(run) == skip) ++run;
      const uint64_t at = k * kPage, n = (run - k) * kPage;
      if (skip) {  // zeros: the fresh arena's, made sure of
        agent_syscall3(kSysMadvise, reinterpret_cast<long>(into + at), long(n), kMadvDontneed);
        *untouched += n;
        note_zeros(s, half, addr + at, n);
      } else if (read_mem(s->fd, into + at, addr + at, n) != long(n)) {
        return false;
      }
      k = run;
    }
    into += pages * kPage, addr += pages * kPage, len -= pages * kPage;
  }
  return true;
}

void read_span(CopyShare* s, int half, uint64_t from, uint64_t to, uint64_t* untouched) {
  uint64_t lo = 0;
  for (int64_t i = 0; i < s->count; lo += s->regs[i].size, ++i) {
    const uint64_t hi = lo + s->regs[i].size;
    const uint64_t a = lo > from ? lo : from, b = hi < to ? hi : to;
    if (a >= b) continue;
    uint8_t* into = const_cast<uint8_t*>(s->regs[i].local) + (a - lo);
    if (!read_touched(s, half, into, s->regs[i].addr + (a - lo), b - a, untouched)) s->failed[i] = 1;
  }
}

void read_upper_half(void* arg) {
  CopyShare* s = static_cast<CopyShare*>(arg);
  read_span(s, 1, s->middle, s->total, &s->untouched[1]);
}

// Below this the helper's start costs more than the half it reads.
constexpr uint64_t kCopyBesideMin = 16ull << 20;

// What the copy left out or put on small pages, for the agent's figures.
struct CopyFigures {
  uint64_t untouched = 0;    // bytes of the peer's never-touched pages, not read
  uint64_t small_pages = 0;  // bytes of the arena advised small pages (sparse batches)
};

// The ranges left out, for the engine, in cfg.zero_ranges (unless more than the
// lists hold: then none).
CopyFigures read_regions(long fd, long pagemap, Region* regs, int64_t count, uint64_t total, const Region* anon,
                         int64_t anon_count, ttst::stfw::Config& cfg) {
  constexpr uint64_t kZeroRanges = 8192;  // per half
  uint8_t failed[4096] = {};
  Region* zeros = static_cast<Region*>(agent_alloc(sizeof(Region) * 2 * kZeroRanges, 16));
  CopyShare share{fd, pagemap, regs, count, total, total, failed, anon, anon_count, {0, 0}, {0, 0},
                  {zeros, zeros ? zeros + kZeroRanges : nullptr}, {0, 0}, kZeroRanges};
  if (total >= kCopyBesideMin) {
    share.middle = (total / 2) & ~uint64_t(4095);
    if (agent_beside(&read_upper_half, &share) != 0) share.middle = total;  // no helper: all here
  }
  read_span(&share, 0, 0, share.middle, &share.untouched[0]);
  if (share.middle < total) agent_beside_wait();
  for (int64_t i = 0; i < count; ++i)
    if (failed[i]) regs[i].size = 0;  // raced unmapping: dropped
  if (zeros && share.zero_count[0] < kZeroRanges && share.zero_count[1] < kZeroRanges) {
    uint64_t n = share.zero_count[0];  // the lower half's ranges come first: the helper's after them
    for (uint64_t k = 0; k < share.zero_count[1]; ++k) {
      const Region& z = share.zeros[1][k];
      if (n && zeros[n - 1].addr + zeros[n - 1].size == z.addr) zeros[n - 1].size += z.size;
      else zeros[n++] = z;
    }
    cfg.zero_ranges = zeros, cfg.zero_range_count = n;
  }
  return CopyFigures{share.untouched[0] + share.untouched[1], share.small[0] + share.small[1]};
}

// Reads the peer's writable mappings into the arena and points cfg at them. Returns
// the region count, or -errno: -kENOMEM when the arena is too small, else the errno
// of opening /proc/PEER/maps (the caller writes the message).
// `heap_slack`: room kept after the copy of the peer's brk heap (a kept run: the
// heap a second run finds grown is patched in there); *heap_region its index.
int64_t copy_peer(int pid, Region** out, ttst::stfw::Config& cfg, uint64_t* bytes, CopyFigures* figures,
                  uint64_t heap_slack, int64_t* heap_region, uint64_t skip_lo, uint64_t skip_hi) {
  using ttst::stfw::kENOMEM;
  long error = 0;
  const char* text = ttst::stfw::read_maps(pid, &error);
  if (!text) return -error;
  Region* regs = static_cast<Region*>(agent_alloc(sizeof(Region) * 4096, 16));
  if (!regs) return -kENOMEM;
  int64_t count = 0;
  ttst::stfw::MapsLine m;
  // Every mapping and the brk heap, for pointer values no live object holds
  // (Config::src_heap_lo, src_mappings: dead or unmapped, carried as they are).
  Region* all = static_cast<Region*>(agent_alloc(sizeof(Region) * 4096, 16));
  uint64_t all_count = 0;
  for (const char* p = text; all && all_count < 4096 && ttst::stfw::next_maps_line(p, &m);) {
    all[all_count++] = Region{m.lo, m.hi - m.lo, nullptr};
    if (m.brk_heap()) cfg.src_heap_lo = m.lo, cfg.src_heap_hi = m.hi;
  }
  if (all && all_count < 4096) cfg.src_mappings = all, cfg.src_mapping_count = all_count;  // else unknown: refused
  Region* anon = static_cast<Region*>(agent_alloc(sizeof(Region) * 4096, 16));  // private anonymous
  int64_t anon_count = 0;
  if (!anon) return -kENOMEM;
  for (const char* p = text; count < 4096 && ttst::stfw::next_maps_line(p, &m);) {
    bool special = m.path_len > 1 && m.path[0] == '[' && m.path[1] == 'v';  // [vvar], [vsyscall], [vdso]
    if (!m.readable || !m.writable || special || m.hi <= m.lo) continue;
    if (m.lo >= skip_lo && m.hi <= skip_hi) continue;  // the peer's kept agent region (TTST_STFW_ARG_PEER_SKIP_*)
    if (!m.shared && m.inode == 0 && anon_count < 4096) anon[anon_count++] = Region{m.lo, m.hi - m.lo, nullptr};
    // Adjacent mappings become one region: an object may straddle them (a .bss
    // array that runs from the executable's data page into the anonymous rest).
    if (count > 0 && regs[count - 1].addr + regs[count - 1].size == m.lo) {
      regs[count - 1].size += m.hi - m.lo;
      continue;
    }
    regs[count++] = Region{m.lo, m.hi - m.lo, nullptr};
  }
  uint64_t total = 0;
  *heap_region = -1;
  for (int64_t i = 0; i < count; ++i) {
    total += regs[i].size;
    if (cfg.src_heap_hi && regs[i].addr + regs[i].size == cfg.src_heap_hi) *heap_region = i;
  }
  if (*heap_region < 0) heap_slack = 0;
  uint8_t* buf = static_cast<uint8_t*>(agent_alloc(total + heap_slack, 4096));
  if (!buf) return -kENOMEM;
  uint64_t off = 0;
  for (int64_t i = 0; i < count; ++i) regs[i].local = buf + off, off += regs[i].size + (i == *heap_region ? heap_slack : 0);
  // Through /proc/PEER/mem where it opens: a plain read of the peer's pages. Reads
  // with process_vm_readv pin each page, and the kernel (5.19+) gives a pinned
  // anonymous page the reader may share with another process a private copy first:
  // read so, a P forked since (F, R, a pre-copy snapshot S and its key K) has every
  // page faulted and, where the page is still shared, copied — one more P of memory
  // (S), and on a VM whose page faults cost microseconds, most of the copy's time.
  char path[48];
  ttst::stfw::proc_path(path, pid, "mem");
  long mem = agent_syscall3(kSysOpen, reinterpret_cast<long>(path), kOCloexec, 0);
  char map_path[48];
  ttst::stfw::proc_path(map_path, pid, "pagemap");
  const long pagemap = mem >= 0 ? agent_syscall3(kSysOpen, reinterpret_cast<long>(map_path), kOCloexec, 0) : -1;
  *figures = mem >= 0 ? read_regions(mem, pagemap, regs, count, total, anon, anon_count, cfg) : CopyFigures{};
  if (pagemap >= 0) agent_syscall3(kSysClose, pagemap, 0, 0);
  if (mem >= 0) agent_syscall3(kSysClose, mem, 0, 0);
  // Else (no free descriptor) batches of up to 512 ranges; a range that fails
  // alone is dropped.
  agent_iovec liov[512], riov[512];
  for (int64_t i = 0; mem < 0 && i < count;) {
    int k = 0;
    uint64_t want = 0;
    for (; k < 512 && i + k < count; ++k) {
      liov[k] = {const_cast<uint8_t*>(regs[i + k].local), regs[i + k].size};
      riov[k] = {reinterpret_cast<void*>(regs[i + k].addr), regs[i + k].size};
      want += regs[i + k].size;
    }
    long r = agent_syscall6(AGENT_SYS_process_vm_readv, pid, reinterpret_cast<long>(liov), k,
                            reinterpret_cast<long>(riov), k, 0);
    if (r < 0 || uint64_t(r) != want) {
      for (int j = 0; j < k; ++j) {
        long rr = agent_read_peer(pid, const_cast<uint8_t*>(regs[i + j].local), regs[i + j].addr, regs[i + j].size);
        if (rr < 0 || uint64_t(rr) != regs[i + j].size) regs[i + j].size = 0;
      }
    }
    i += k;
  }
  *bytes = total;
  *out = regs;
  cfg.regions = regs;
  cfg.region_count = uint64_t(count);
  return count;
}

// The time-stamp counter: the copy phase's cycles, like the engine's own phases.
uint64_t read_cycles() {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t(hi) << 32) | lo;
}

// Backward: whether R reads its own heap more cheaply in place than through
// /proc/self/mem (engine_own_memory.cc's window). R is a fork of P, and what its
// first touch of each inherited page costs is the host's: on a VM with shadow page
// tables (the PVM guest of sessions 9-24) a hypervisor fault of microseconds per
// page, 0.6-0.9 s per pass over bankserver's 1 M accounts, where /proc/self/mem
// goes through the kernel's own mapping (~0.15 s); on the same kind of machine on
// 2026-12-07 ~0.2 us per page in place against ~3 us through the window, and the
// window cost the backward map and write phases 150-250 ms at 1 M accounts. So a
// few page pairs spread over R's [heap], none touched since the fork: one page of
// each read in place, the other through the file, each timed; in place when that
// cost less. No [heap] (or too small to judge): the window, as before.
bool own_heap_cheaper_in_place(long own_mem) {
  const char* text = ttst::stfw::read_maps(0);
  ttst::stfw::MapsLine m{};
  uint64_t lo = 0, hi = 0;
  for (const char* p = text; p && ttst::stfw::next_maps_line(p, &m);)
    if (m.brk_heap() && m.readable) lo = m.lo, hi = m.hi;
  constexpr uint64_t kPage = 4096, kPairs = 16;
  if (hi - lo < 4 * kPairs * kPage) return false;
  const uint64_t stride = ((hi - lo) / kPairs) & ~(kPage - 1);
  alignas(64) uint8_t page[kPage];  // on the agent's stack: touched once first
  read_mem(own_mem, page, lo, kPage);
  uint64_t in_place = 0, through_file = 0;
  for (uint64_t k = 0; k < kPairs; ++k) {
    const uint64_t a = lo + kPage + k * stride;  // never the first page (read above)
    const uint64_t t0 = read_cycles();
    (void)*reinterpret_cast<volatile const uint64_t*>(a);
    const uint64_t t1 = read_cycles();
    if (read_mem(own_mem, page, a + kPage, kPage) != long(kPage)) return false;
    const uint64_t t2 = read_cycles();
    in_place += t1 - t0, through_file += t2 - t1;
  }
  return in_place < through_file;
}

// What one run of a transfer task sets up for the engine.
struct TransferSetup {
  ttst_agent_desc* desc = nullptr;
  bool backward = false;
  ttst::stfw::Config cfg;
  CallbackContext ctx{0, 0, 0, 0, 0, nullptr, nullptr};
  Region* regions = nullptr;
  int64_t region_count = 0;
  uint64_t copied_bytes = 0;
  CopyFigures copy;  // of them, the peer's never-touched pages (not read); the arena on small pages
  uint64_t arena_before_engine = 0;  // the arena used when the engine starts (copy and set-up)
  ttst::stfw::EpollRegistration* epoll = nullptr;  // forward: F's epoll registrations
  int64_t epoll_count = 0;
  uint64_t peer_exe = 0, self_exe = 0;  // where both executables start (LibrarySymbols)
  int64_t heap_region = -1;  // the region copying the peer's brk heap, and the room kept after it
  uint64_t heap_slack = 0;
};

// A run kept for a second one (TTST_STFW_F_KEEP): its set-up, the Env the engine
// holds, and the engine. The delta task's argument points at it.
constexpr uint64_t kKeptRunMagic = 0x4e5552545045454bull;  // "KEEPTRUN"
struct KeptRun {
  uint64_t magic;
  TransferSetup* setup;
  ttst::stfw::Env* env;
  ttst::stfw::KeptEngine* engine;
  uint8_t* run_block = nullptr;  // a second run's input buffers, used again by the next run
  uint64_t run_block_size = 0;   // (its pages already there: fresh ones cost a fault each)
};

// `size` bytes for this run's input buffers (page-aligned), from the block the
// last run used when it is large enough.
uint8_t* run_buffers(KeptRun* k, uint64_t size) {
  if (size > k->run_block_size) {
    const uint64_t grown = ((size + size / 2) + 4095) & ~uint64_t{4095};
    k->run_block = static_cast<uint8_t*>(agent_alloc(grown, 4096));
    k->run_block_size = k->run_block ? grown : 0;
  }
  return k->run_block;
}

// The steps below return TTST_STFW_STATUS_OK, or a failure status with the message
// written to the output.
int64_t fail(ttst_agent_desc* desc, int64_t status, const char* message) {
  ttst::stfw::put_output(desc, message);
  return status;
}

// A /proc file (`what`) this process could not open, `error` the errno. Out of
// descriptors is the program's own limit (or the system's), said as such with its
// own status, never as our bad input.
int64_t fail_open(ttst_agent_desc* desc, long error, const char* what) {
  const char* why = "bad input: cannot open ";
  int64_t status = TTST_STFW_STATUS_BAD_INPUT;
  if (error == ttst::stfw::kEMFILE)
    why = "no descriptor: this process has no free file descriptor (EMFILE) to open ",
    status = TTST_STFW_STATUS_NO_DESCRIPTOR;
  if (error == ttst::stfw::kENFILE)
    why = "no descriptor: the system's file table is full (ENFILE): cannot open ",
    status = TTST_STFW_STATUS_NO_FILE_TABLE;
  char* o = reinterpret_cast<char*>(desc->output.addr);
  uint64_t n = 0;
  auto text = [&](const char* t) {
    while (*t && n + 2 < desc->output.size) o[n++] = *t++;
  };
  text(why);
  text(what);
  if (status == TTST_STFW_STATUS_BAD_INPUT) {
    char digits[ttst::stfw::kDecimalDigitsMax];
    ttst::stfw::decimal_digits(uint64_t(error), digits);
    text(" (errno ");
    text(digits);
    text(")");
  }
  o[n++] = 0;
  desc->output_used = n;
  return status;
}

// Forward: the stopped thread's stack (engine_frames.cc), from its rsp to the end
// of the mapping that holds it; none when the supervisor passed no rsp or the maps
// cannot be read (then the supervisor's own check still runs).
void locate_own_stack(ttst_agent_desc* desc, ttst::stfw::Config& cfg) {
  uint64_t sp = desc->arg[TTST_STFW_ARG_SELF_SP];
  if (!sp) return;
  long error = 0;
  const char* text = ttst::stfw::read_maps(0, &error);
  ttst::stfw::MapsLine m;
  for (const char* p = text; p && ttst::stfw::next_maps_line(p, &m);)
    if (sp >= m.lo && sp < m.hi && m.readable && m.writable) {
      cfg.own_stack_lo = sp, cfg.own_stack_hi = m.hi, cfg.own_frame = desc->arg[TTST_STFW_ARG_SELF_FP];
      return;
    }
}

// Both metadata images (self: this process's version, peer: the other's) and the
// task's arguments.
int64_t configure(TransferSetup& setup) {
  ttst_agent_desc* desc = setup.desc;
  ttst::stfw::Config& cfg = setup.cfg;
  const char* why = "metadata image missing";
  if (!ttst::dwarfmeta::image::View::open(reinterpret_cast<const void*>(desc->meta_self.addr), desc->meta_self.size,
                                          &cfg.dst_meta, &why) ||
      !ttst::dwarfmeta::image::View::open(reinterpret_cast<const void*>(desc->meta_peer.addr), desc->meta_peer.size,
                                          &cfg.src_meta, &why))
    return fail(desc, TTST_STFW_STATUS_BAD_INPUT, why);
  cfg.backward = setup.backward;
  cfg.dst_bias = desc->arg[TTST_STFW_ARG_SELF_BIAS];
  cfg.src_bias = desc->arg[TTST_STFW_ARG_PEER_BIAS];
  cfg.dst_runtime = desc->arg[TTST_STFW_ARG_SELF_RUNTIME];
  cfg.src_runtime = desc->arg[TTST_STFW_ARG_PEER_RUNTIME];
  if (!setup.backward) locate_own_stack(desc, cfg);
  cfg.keep_new_candidates = !setup.backward;  // suggestions for TTST_KEEP_NEW (stfw_task.h)
  cfg.frames = reinterpret_cast<const uint8_t*>(desc->input.addr), cfg.frames_size = desc->input.size;
  cfg.out = reinterpret_cast<char*>(desc->output.addr);
  cfg.out_size = desc->output.size;
  setup.ctx.peer = desc->peer_pid;
  if (desc->plugin.addr) {  // --xfer: the user's transfer plugin (user_plugin.h)
    const char* why = nullptr;
    cfg.plugin_entry =
        ttst::stfw::load_user_plugin(reinterpret_cast<const uint8_t*>(desc->plugin.addr), desc->plugin.size, &why);
    if (!cfg.plugin_entry)
      return fail(desc, why && why[0] == 'n' ? TTST_STFW_STATUS_NO_MEMORY : TTST_STFW_STATUS_BAD_INPUT, why);
  }
  cfg.library_adapters = ttst::stfw::library_adapters(&cfg.library_adapter_count);
  return TTST_STFW_STATUS_OK;
}

// Forward: the runtime's allocation hooks in this program (ttst_runtime.c).
int64_t find_runtime_hooks(TransferSetup& setup) {
  if (setup.backward) return TTST_STFW_STATUS_OK;
  const auto* alloc = setup.cfg.dst_meta.function("__ttst_transfer_alloc");
  if (!alloc)
    return fail(setup.desc, TTST_STFW_STATUS_BAD_INPUT,
                "bad input: this program has no __ttst_transfer_alloc (link it with a current ttst-cc)");
  setup.ctx.alloc_fn = alloc->low + setup.cfg.dst_bias;
  if (const auto* release = setup.cfg.dst_meta.function("__ttst_transfer_free"))
    setup.ctx.free_fn = release->low + setup.cfg.dst_bias;
  if (const auto* reserve = setup.cfg.dst_meta.function("__ttst_transfer_reserve"))
    setup.ctx.reserve_fn = reserve->low + setup.cfg.dst_bias;
  if (const auto* ahead = setup.cfg.dst_meta.function("__ttst_transfer_reserve_ahead"))
    setup.ctx.reserve_ahead_fn = ahead->low + setup.cfg.dst_bias;
  return TTST_STFW_STATUS_OK;
}

// Transparent huge pages for the arena (copy and tables): a hint on the agent's own
// region, which the host unmaps afterwards; fewer page faults and TLB misses.
void request_huge_pages(const ttst_agent_desc* desc) {
  uint64_t lo = (desc->heap.addr + (2u << 20) - 1) & ~uint64_t((2u << 20) - 1);
  uint64_t hi = (desc->heap.addr + desc->heap.size) & ~uint64_t((2u << 20) - 1);
  if (hi > lo) agent_syscall3(kSysMadvise, long(lo), long(hi - lo), kMadvHugepage);
}

// A kept run's room for the peer's brk heap to grow before the last second run:
// half of it, at least 256 MiB (the arena's address space only, until used).
// Rounds on the delta go on for seconds under writes, and the peer's heap grows
// by every block P allocates meanwhile (F's by their counterparts): a quarter and
// 64 MiB ran out at 1 M accounts after ~15 s of rounds.
uint64_t heap_slack(const ttst::stfw::Config& cfg) {
  const uint64_t half = (cfg.src_heap_hi - cfg.src_heap_lo) / 2;
  return cfg.keep ? ((half > (256ull << 20) ? half : (256ull << 20)) + 4095) & ~uint64_t{4095} : 0;
}

int64_t copy_peer_memory(TransferSetup& setup) {
  const bool skip = setup.backward;  // the words are the forward's rsp and rbp otherwise
  setup.region_count = copy_peer(setup.desc->peer_pid, &setup.regions, setup.cfg, &setup.copied_bytes, &setup.copy,
                                 heap_slack(setup.cfg), &setup.heap_region,
                                 skip ? setup.desc->arg[TTST_STFW_ARG_PEER_SKIP_LO] : 0,
                                 skip ? setup.desc->arg[TTST_STFW_ARG_PEER_SKIP_HI] : 0);
  setup.heap_slack = setup.heap_region >= 0 ? heap_slack(setup.cfg) : 0;
  if (setup.region_count == -ttst::stfw::kENOMEM)
    return fail(setup.desc, TTST_STFW_STATUS_NO_MEMORY,
                "no memory: the agent's arena cannot hold a copy of the peer's writable memory");
  if (setup.region_count < 0) return fail_open(setup.desc, -setup.region_count, "/proc/PEER/maps of the peer");
  return TTST_STFW_STATUS_OK;
}

// The first function's run-time address: an address inside the executable's text.
uint64_t text_addr(const ttst::dwarfmeta::image::View& v, uint64_t bias) {
  for (uint32_t i = 0; i < v.function_count(); ++i)
    if (v.function_at_index(i).low) return v.function_at_index(i).low + bias;
  return bias;
}

// Shared libraries: where the peer's are mapped here (pointers to their static
// data), and where both executables start (for LibrarySymbols).
int64_t locate_libraries(TransferSetup& setup, uint64_t* peer_exe, uint64_t* self_exe) {
  const ttst::stfw::LibRange* libs = nullptr;
  int64_t count =
      ttst::stfw::map_libraries(setup.desc->peer_pid, text_addr(setup.cfg.src_meta, setup.cfg.src_bias),
                                text_addr(setup.cfg.dst_meta, setup.cfg.dst_bias), &libs, peer_exe, self_exe);
  if (count == -ttst::stfw::kENOMEM)
    return fail(setup.desc, TTST_STFW_STATUS_NO_MEMORY,
                "no memory: the agent's arena cannot hold the list of libraries");
  if (count < 0) return fail_open(setup.desc, -count, "/proc/PID/maps of the peer or of this process");
  setup.cfg.libs = libs, setup.cfg.lib_count = uint64_t(count);
  return TTST_STFW_STATUS_OK;
}

// Forward: the stacks of this process's other threads (issue 19), from the frames
// block of each pair that follows the thread pointers (frame 0's rsp of this
// process's side) to the end of the mapping holding it; remapped like our own.
void locate_other_stacks(TransferSetup& setup, const uint8_t* in, uint64_t size, uint64_t count) {
  uint64_t* stacks = static_cast<uint64_t*>(agent_alloc(16 * (count + 1), 16));
  if (!stacks) return;
  long error = 0;
  const char* text = ttst::stfw::read_maps(0, &error);
  uint64_t n = 0, at = 0;
  for (uint64_t k = 0; k < count && text; ++k) {
    ttst_stfw_frames_header fh;
    if (at + sizeof fh > size) break;
    __builtin_memcpy(&fh, in + at, sizeof fh);
    if (fh.magic != TTST_STFW_FRAMES_MAGIC || fh.peer_count > 64 || fh.self_count > 64) break;
    const uint64_t used = sizeof fh + (uint64_t(fh.peer_count) + fh.self_count) * sizeof(ttst_stfw_frame);
    if (at + used > size) break;
    if (fh.self_count) {
      ttst_stfw_frame f0;
      __builtin_memcpy(&f0, in + at + sizeof fh + fh.peer_count * sizeof(ttst_stfw_frame), sizeof f0);
      ttst::stfw::MapsLine m;
      for (const char* p = text; ttst::stfw::next_maps_line(p, &m);)
        if (f0.reg[7] >= m.lo && f0.reg[7] < m.hi && m.readable && m.writable) {
          stacks[2 * n] = f0.reg[7], stacks[2 * n + 1] = m.hi, ++n;
          break;
        }
    }
    at += used;
  }
  setup.cfg.thread_stacks = stacks, setup.cfg.thread_stack_count = n;
}

// glibc's sizeof(struct pthread), as libc.so exports it for libthread_db
// (`_thread_db_sizeof_pthread`, a uint32_t), from this process's libc; 0: unknown.
uint64_t thread_descriptor_size() {
  long error = 0;
  const char* text = ttst::stfw::read_maps(0, &error);
  ttst::stfw::MapsLine m;
  for (const char* p = text; p && ttst::stfw::next_maps_line(p, &m);) {
    if (m.offset != 0 || m.path_len < 7) continue;
    uint64_t base = 0;
    for (uint64_t i = 0; i < m.path_len; ++i)
      if (m.path[i] == '/') base = i + 1;
    const char* name = m.path + base;
    if (m.path_len - base < 7 || name[0] != 'l' || name[1] != 'i' || name[2] != 'b' || name[3] != 'c' ||
        name[4] != '.' || name[5] != 's' || name[6] != 'o')
      continue;
    ttst::stfw::ElfImage libc;
    uint64_t start = 0, size = 0;
    if (!libc.open(0, m.lo) || !libc.symbol_named("_thread_db_sizeof_pthread", &start, &size) || size != 4) return 0;
    return *reinterpret_cast<const uint32_t*>(start);
  }
  return 0;
}

// Forward: every pair of thread pointers, the main threads' first, and the size of
// the thread descriptor at each (Config::thread_pointers: pthread_getspecific values).
void locate_thread_pointers(TransferSetup& setup, const uint8_t* pairs, uint64_t count) {
  uint64_t* tps = static_cast<uint64_t*>(agent_alloc(16 * (count + 1), 16));
  if (!tps) return;
  uint64_t self_tp;
  __asm__ volatile("mov %%fs:0, %0" : "=r"(self_tp));
  tps[0] = setup.desc->arg[TTST_STFW_ARG_PEER_TP], tps[1] = self_tp;
  __builtin_memcpy(tps + 2, pairs, 16 * count);
  setup.cfg.thread_pointers = tps, setup.cfg.thread_pointer_count = count + 1;
  setup.cfg.thread_descriptor_size = thread_descriptor_size();
}

// The other threads' blocks (issue 19): the pairs of thread pointers the supervisor
// appended to the input after the frames (stfw_task.h TTST_STFW_THREADS_MAGIC),
// each turned into the pair of blocks as for the main threads; a pair whose block
// is unreadable is left out (0), and its thread-local globals are not transferred.
template <typename Word>
void locate_other_threads(TransferSetup& setup, Word& peer_word) {
  const uint8_t* in = setup.cfg.frames;
  uint64_t size = setup.cfg.frames_size, at = 0;
  if (!in || size < sizeof(ttst_stfw_frames_header)) return;
  ttst_stfw_frames_header fh;
  __builtin_memcpy(&fh, in, sizeof fh);
  if (fh.magic != TTST_STFW_FRAMES_MAGIC || fh.peer_count > 64 || fh.self_count > 64) return;
  at = sizeof fh + (uint64_t(fh.peer_count) + fh.self_count) * sizeof(ttst_stfw_frame);
  ttst_stfw_threads_header th;
  if (at + sizeof th > size) return;
  __builtin_memcpy(&th, in + at, sizeof th);
  at += sizeof th;
  if (th.magic != TTST_STFW_THREADS_MAGIC || th.count > 4096 || at + th.count * 16 > size) return;
  uint64_t* blocks = static_cast<uint64_t*>(agent_alloc(16 * (th.count + 1), 16));
  if (!blocks) return;
  for (uint64_t k = 0; k < th.count; ++k) {
    uint64_t tp[2];
    __builtin_memcpy(tp, in + at + 16 * k, 16);
    const uint64_t peer_dtv = tp[0] ? peer_word(tp[0] + 8) : 0;
    blocks[2 * k] = peer_dtv ? peer_word(peer_dtv + 16) : 0;
    const uint64_t self_dtv = tp[1] ? *reinterpret_cast<const uint64_t*>(tp[1] + 8) : 0;
    blocks[2 * k + 1] = self_dtv ? *reinterpret_cast<const uint64_t*>(self_dtv + 16) : 0;
  }
  setup.cfg.thread_tls = blocks, setup.cfg.thread_tls_count = th.count;
  if (!setup.backward) locate_other_stacks(setup, in + at + 16 * th.count, size - at - 16 * th.count, th.count);
  if (!setup.backward) locate_thread_pointers(setup, in + at, th.count);
}

// Thread-local globals: the executable's block (module 1) of each main thread,
// from its thread control block (fs:0 -> tcb, tcb + 8 -> dtv, dtv[1] -> block;
// glibc's x86-64 layout). The peer's are read from the copy.
void locate_thread_locals(TransferSetup& setup) {
  uint64_t tp = setup.desc->arg[TTST_STFW_ARG_PEER_TP];
  if (!tp) return;
  auto word = [&](uint64_t addr) -> uint64_t {
    for (int64_t i = 0; i < setup.region_count; ++i)
      if (addr >= setup.regions[i].addr && addr + 8 <= setup.regions[i].addr + setup.regions[i].size) {
        uint64_t v;
        __builtin_memcpy(&v, setup.regions[i].local + (addr - setup.regions[i].addr), 8);
        return v;
      }
    return 0;
  };
  uint64_t dtv = word(tp + 8);
  setup.cfg.src_tls = dtv ? word(dtv + 16) : 0;
  uint64_t self_tp;
  __asm__ volatile("mov %%fs:0, %0" : "=r"(self_tp));
  uint64_t self_dtv = *reinterpret_cast<const uint64_t*>(self_tp + 8);
  setup.cfg.dst_tls = self_dtv ? *reinterpret_cast<const uint64_t*>(self_dtv + 16) : 0;
  locate_other_threads(setup, word);
}

// Forward: the data words of the epoll instances F inherited (epoll_rebuild.h).
int64_t list_kernel_words(TransferSetup& setup) {
  if (setup.backward) return TTST_STFW_STATUS_OK;
  int64_t n = ttst::stfw::list_epoll_registrations(&setup.epoll);
  uint64_t* words = n > 0 ? static_cast<uint64_t*>(agent_alloc(16 * uint64_t(n), 16)) : nullptr;
  if (n < 0 && n != -ttst::stfw::kENOMEM)
    return fail_open(setup.desc, -n, "/proc/self/fd or /proc/self/fdinfo (this process's epoll registrations)");
  if (n < 0 || (n > 0 && !words))
    return fail(setup.desc, TTST_STFW_STATUS_NO_MEMORY,
                "no memory: the agent's arena cannot hold the epoll registrations");
  for (int64_t i = 0; i < n; ++i) words[i] = setup.epoll[i].data;
  setup.cfg.kernel_words = words, setup.cfg.kernel_out = words + n, setup.cfg.kernel_count = uint64_t(n);
  setup.epoll_count = n;
  return TTST_STFW_STATUS_OK;
}

// Forward: libevent's API in this process (libevent_adapter.h); a program without
// libevent has none.
int64_t prepare_libevent(TransferSetup& setup, ttst::stfw::LibeventReplay& libevent) {
  if (setup.backward) return TTST_STFW_STATUS_OK;
  setup.ctx.libevent = &libevent;
  libevent.locate();
  return TTST_STFW_STATUS_OK;
}

// Forward, after the transfer: every struct event P had registered, registered
// again in this process's libevent; a failure is named.
int64_t replay_libevent(TransferSetup& setup) {
  if (!setup.ctx.libevent) return TTST_STFW_STATUS_OK;
  ttst::stfw::Message m = ttst::stfw::output_message(setup.desc);
  if (setup.ctx.libevent->replay(m)) return TTST_STFW_STATUS_OK;
  ttst::stfw::finish_output(setup.desc, m);
  return m.buf[0] == 'n' ? TTST_STFW_STATUS_NO_MEMORY : m.buf[0] == 'b' ? TTST_STFW_STATUS_BAD_INPUT
                                                                        : TTST_STFW_STATUS_INVARIANT;
}

// Forward, after the transfer: every epoll instance with a translated data word
// rebuilt in F (epoll_rebuild.h); a failure is an invariant, named.
int64_t rebuild_epoll(TransferSetup& setup) {
  if (setup.epoll_count <= 0) return TTST_STFW_STATUS_OK;
  const ttst::stfw::Config& cfg = setup.cfg;
  int bad_fd = -1, stale = -1;
  long err = ttst::stfw::rebuild_epoll_instances(setup.epoll, cfg.kernel_out, setup.epoll_count, &bad_fd, &stale);
  if (err >= 0) return TTST_STFW_STATUS_OK;
  ttst::stfw::Message m = ttst::stfw::output_message(setup.desc);
  m.text("invariant: the epoll instance on descriptor ").number(uint64_t(bad_fd));
  if (stale >= 0)
    m.text(" watches descriptor ")
        .number(uint64_t(stale))
        .text(", which is no longer the registered file (closed; the registration lives on through a dup): "
              "cannot rebuild it with translated data in the future version");
  else
    m.text(" cannot be rebuilt with translated data in the future version (errno ").number(uint64_t(-err)).text(")");
  ttst::stfw::finish_output(setup.desc, m);
  return TTST_STFW_STATUS_INVARIANT;
}

// The counters, and the output: the engine's message on failure, else one line of
// figures (cycles per phase) for the benchmark.
void report(TransferSetup& setup, const ttst::stfw::Result& r, uint64_t copy_cycles, uint64_t cpu_start) {
  ttst_agent_desc* desc = setup.desc;
  desc->detail[TTST_STFW_DETAIL_OBJECTS] = r.objects;
  desc->detail[TTST_STFW_DETAIL_BYTES] = r.bytes;
  desc->detail[TTST_STFW_DETAIL_POINTERS] = r.pointers;
  desc->detail[TTST_STFW_DETAIL_TRANSFORMS] = r.transforms;
  if (r.status != 0) {
    desc->output_used = r.out_used;
    return;
  }
  ttst::stfw::Message m = ttst::stfw::output_message(desc);
  m.text("copy_cycles=").number(copy_cycles);
  m.text(" copy_bytes=").number(setup.copied_bytes).text(" copy_untouched_bytes=").number(setup.copy.untouched);
  m.text(" copy_small_page_bytes=").number(setup.copy.small_pages);
  m.text(" index_cycles=").number(r.phase_cycles[0]);
  m.text(" type_cycles=").number(r.phase_cycles[1]);
  m.text(" map_cycles=").number(r.phase_cycles[2]);
  m.text(" write_cycles=").number(r.phase_cycles[3]);
  m.text(" untyped_copied=").number(r.untyped_copied);
  m.text(" dead_pointers=").number(r.dead_pointers).text(" unmapped_words=").number(r.unmapped_words);
  m.text(" integers=").number(r.integers).text(" literals=").number(r.literals);
  m.text(" startup_freed=").number(r.freed);
  m.text(" frame_roots=").number(r.frame_roots);
  m.text(" scalar_locals=").number(r.scalar_locals);
  m.text(" own_reads=").number(r.own_reads);
  m.text(" type_threads=").number(r.type_threads);
  m.text(" write_threads=").number(r.write_threads).text(" written_beside=").number(r.written_beside);
  m.text(" carved=").number(r.carved);  // sub-objects of containers (typed objects)
  m.text(" walked=").number(r.walked);  // elements typed or written member by member (no plan)
  m.text(" containers=").number(r.containers);
  m.text(" container_free_bytes=").number(r.container_free);
  if (const ttst::stfw::LibeventReplay* events = setup.ctx.libevent) {  // library state replayed (library_state.h)
    m.text(" libevent_added=").number(events->added()).text(" libevent_assigned=").number(events->assigned());
    m.text(" libevent_withdrawn=").number(events->withdrawn()).text(" " TTST_STFW_RESULT_PAST_LIBRARY_FDS);
    events->past_descriptors(setup.epoll, setup.epoll_count, m);
  }
  m.text(" cpu_ns=").number(thread_cpu_ns() - cpu_start);  // this thread's CPU time (vs. the cycles: time not run)
  m.text(" frame_words=").number(r.frame_words);
  m.text(" kept=").number(r.kept).text(" kept_unpaired=").number(r.kept_unpaired).text(" untouched=").number(r.untouched);
  if (setup.cfg.plugin_entry) m.text(" plugin_calls=").number(r.plugin_calls);
  // The arena's split (bytes): the peer's copy, the rest of the set-up, the engine's
  // phases (index with the object table, `arena_table` of it), and its whole use.
  m.text(" arena_copy=").number(setup.copied_bytes).text(" arena_setup=").number(setup.arena_before_engine - setup.copied_bytes);
  m.text(" arena_index=").number(r.arena_phase[0]).text(" arena_table=").number(r.arena_table);
  m.text(" arena_type=").number(r.arena_phase[1]).text(" arena_map=").number(r.arena_phase[2]);
  m.text(" arena_write=").number(r.arena_phase[3]).text(" arena_used=").number(agent_alloc_used());
  m.end();
  for (uint64_t i = 0; i < r.plugin_lines_size; ++i) {  // "unvalidated ..." lines (stfw_task.h)
    if (m.used + 1 >= m.size) break;
    m.buf[m.used++] = r.plugin_lines[i];
  }
  for (uint64_t i = 0; i < r.superseded_count; ++i) {  // stfw_task.h: one line each
    const ttst::stfw::Superseded& s = r.superseded[i];
    m.text(TTST_STFW_SUPERSEDED_PREFIX).hex(s.addr).text(" ").hex(s.size).text(" ").hex(s.counterpart);
    m.text(s.freed ? " 1" : " 0");
    m.end();
  }
  for (uint64_t i = 0; i < r.local_register_count; ++i) {  // stfw_task.h: one line each
    const ttst::stfw::LocalRegister& l = r.local_registers[i];
    m.text(TTST_STFW_LOCAL_REGISTER_PREFIX).number(l.frame).text(" ").number(l.reg).text(" ").hex(l.value);
    m.end();
  }
  for (uint64_t i = 0; i < r.keep_new_candidate_count; ++i) {  // stfw_task.h: suggestions for TTST_KEEP_NEW
    m.text(TTST_STFW_KEEP_NEW_CANDIDATE_PREFIX).text(setup.cfg.src_meta.str(setup.cfg.src_meta.global_at(uint32_t(r.keep_new_candidates[i])).id));
    m.end();
  }
  desc->output_used = m.used;
}

// One transfer task: set up (images, arguments, the peer's memory, libraries,
// thread-locals, argument strings, kernel-held words), the engine, then epoll.
int64_t run(ttst_agent_desc* desc, bool backward) {
  const bool keep = (desc->arg[TTST_STFW_ARG_FLAGS] & TTST_STFW_F_KEEP) != 0;
  // In the arena, where a kept run's second run finds it (the stack is not kept).
  TransferSetup* kept_setup = arena_new<TransferSetup>();
  if (!kept_setup) return fail(desc, TTST_STFW_STATUS_NO_MEMORY, "no memory: the agent's arena is exhausted");
  TransferSetup& setup = *kept_setup;
  setup.desc = desc, setup.backward = backward;
  setup.cfg.keep = keep;
  if (int64_t status = configure(setup)) return status;
  if (int64_t status = find_runtime_hooks(setup)) return status;
  uint64_t cpu_start = thread_cpu_ns();
  uint64_t copy_start = read_cycles();
  setup.cfg.progress = desc->progress;  // shown by the supervisor (agent_abi.h)
  setup.cfg.progress[0] = TTST_AGENT_PROGRESS_COPY;
  request_huge_pages(desc);
  if (int64_t status = copy_peer_memory(setup)) return status;
  if (int64_t status = locate_libraries(setup, &setup.peer_exe, &setup.self_exe)) return status;
  setup.ctx.symbols = arena_new<ttst::stfw::LibrarySymbols>(desc->peer_pid, setup.peer_exe, setup.self_exe);
  ttst::stfw::LibeventReplay* libevent =
      arena_new<ttst::stfw::LibeventReplay>(setup.cfg.src_meta, setup.cfg.dst_meta, setup.cfg.dst_bias);
  ttst::stfw::Env* env = arena_new<ttst::stfw::Env>();
  if (!setup.ctx.symbols || !libevent || !env)
    return fail(desc, TTST_STFW_STATUS_NO_MEMORY, "no memory: the agent's arena is exhausted");
  locate_thread_locals(setup);
  // Argument and environment strings (pointers such as argv[0] or getenv()'s); a
  // process whose stat cannot be read simply has none to map.
  ttst::stfw::read_string_areas(desc->peer_pid, &setup.cfg.src_strings);
  ttst::stfw::read_string_areas(0, &setup.cfg.dst_strings);
  if (int64_t status = list_kernel_words(setup)) return status;
  if (int64_t status = prepare_libevent(setup, *libevent)) return status;
  uint64_t copy_cycles = read_cycles() - copy_start;
  *env = ttst::stfw::Env{&scratch,
                         &read_source,
                         backward ? nullptr : &alloc_in_program,
                         &setup.ctx,
                         setup.ctx.free_fn ? &free_in_program : nullptr,
                         &library_symbol};
  if (!backward) env->library_release = &library_release, env->library_embedded = &library_embedded;
  if (!backward) env->library_handle = &library_handle;
  if (!backward && setup.ctx.reserve_fn) env->reserve = &reserve_in_program;
  if (!backward && setup.ctx.reserve_ahead_fn) env->reserve_ahead = &reserve_ahead_in_program;
  // Backward: R's own heap read through /proc/self/mem (engine_own_memory.cc) where
  // that costs less than in place (own_heap_cheaper_in_place); in place when it
  // cannot be opened.
  if (backward) setup.ctx.own_mem = agent_syscall3(kSysOpen, reinterpret_cast<long>("/proc/self/mem"), kOCloexec, 0);
  if (setup.ctx.own_mem >= 0 && !own_heap_cheaper_in_place(setup.ctx.own_mem)) env->read_own = &read_own;
  env->beside = &beside, env->beside_wait = &beside_wait;
  env->scratch_room = &scratch_room;
  env->scratch_zeroed = true;  // a bump allocator over a freshly mapped region (inject/agent/alloc.h)
  ttst::stfw::InitialImage initial;  // closed when the task ends (it runs in the program)
  if (initial.open(backward ? 0 : setup.ctx.peer)) setup.ctx.initial = &initial, env->read_initial = &read_initial;
  setup.arena_before_engine = agent_alloc_used();
  ttst::stfw::KeptEngine* engine = nullptr;
  ttst::stfw::Result r = ttst::stfw::transfer(setup.cfg, *env, keep ? &engine : nullptr);
  initial.close();
  if (setup.ctx.own_mem >= 0) agent_syscall3(kSysClose, setup.ctx.own_mem, 0, 0), setup.ctx.own_mem = -1;
  if (r.status == 0)
    if (int64_t status = replay_libevent(setup)) return status;
  if (r.status == 0)
    if (int64_t status = rebuild_epoll(setup)) return status;
  report(setup, r, copy_cycles, cpu_start);
  // Kept: what lived on this stack or only for this run is gone for the second.
  setup.ctx.initial = nullptr, env->read_initial = nullptr;
  setup.ctx.libevent = nullptr, env->library_release = nullptr, env->library_embedded = nullptr;
  env->library_handle = nullptr;
  if (r.status == 0 && engine)
    if (KeptRun* k = arena_new<KeptRun>(KeptRun{kKeptRunMagic, &setup, env, engine})) {
      ttst::stfw::Message m{reinterpret_cast<char*>(desc->output.addr), desc->output.size, desc->output_used};
      m.text(TTST_STFW_KEPT_PREFIX).hex(reinterpret_cast<uint64_t>(k));
      m.end();
      desc->output_used = m.used;
    }
  return r.status;
}

int64_t task_stfw_forward(ttst_agent_desc* d) { return run(d, false); }
int64_t task_stfw_backward(ttst_agent_desc* d) { return run(d, true); }

// The delta task's input (stfw_task.h ttst_stfw_delta_header): the peer's changed
// ranges, this process's written ones, the frames; NULL header when malformed.
const ttst_stfw_delta_header* delta_input(const ttst_agent_desc* desc, const uint64_t** changed,
                                          const uint64_t** own, const uint8_t** frames, const uint8_t** bytes) {
  const uint8_t* in = reinterpret_cast<const uint8_t*>(desc->input.addr);
  const ttst_stfw_delta_header* h = reinterpret_cast<const ttst_stfw_delta_header*>(in);
  if (!in || desc->input.size < sizeof *h || h->magic != TTST_STFW_DELTA_MAGIC) return nullptr;
  const uint64_t words = desc->input.size - sizeof *h;
  if (h->patch_count > words / 16 || h->own_count > words / 16 - h->patch_count ||
      h->frames_size > words - 16 * (h->patch_count + h->own_count) ||
      h->bytes_size != words - 16 * (h->patch_count + h->own_count) - h->frames_size)
    return nullptr;
  *changed = reinterpret_cast<const uint64_t*>(in + sizeof *h);
  *own = *changed + 2 * h->patch_count;
  const uint8_t* after = reinterpret_cast<const uint8_t*>(*own + 2 * h->own_count);
  *frames = h->frames_size ? after : nullptr;
  *bytes = h->bytes_size ? after + h->frames_size : nullptr;
  return h;
}

// The run of whole pages from changed range `i` (sorted [lo, hi) pairs): the ranges
// whose pages touch or overlap, as [*lo, *hi); returns the range after them.
uint64_t page_run(const uint64_t* ranges, uint64_t count, uint64_t i, uint64_t* lo, uint64_t* hi) {
  *lo = ranges[2 * i] & ~uint64_t{4095}, *hi = (ranges[2 * i + 1] + 4095) & ~uint64_t{4095};
  for (++i; i < count && (ranges[2 * i] & ~uint64_t{4095}) <= *hi; ++i) {
    const uint64_t end = (ranges[2 * i + 1] + 4095) & ~uint64_t{4095};
    if (end > *hi) *hi = end;
  }
  return i;
}

// The changed ranges' bytes as patches (into the kept run's reused buffer): the
// supervisor's copy of them when it gave one (they are the input's, counted as
// copied), else read from the peer now.
int64_t changed_bytes(ttst_agent_desc* desc, KeptRun* k, const ttst_stfw_delta_header* h, const uint64_t* changed,
                      const uint8_t* given, ttst::stfw::SourcePatch** out, uint64_t* copied) {
  if (given) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < h->patch_count; ++i) total += changed[2 * i + 1] - changed[2 * i];
    if (total != h->bytes_size)
      return fail(desc, TTST_STFW_STATUS_BAD_INPUT, "bad input: the changed ranges' bytes are not as many as the ranges");
    auto* patches = reinterpret_cast<ttst::stfw::SourcePatch*>(
        run_buffers(k, sizeof(ttst::stfw::SourcePatch) * (h->patch_count + 1)));
    if (!patches) return fail(desc, TTST_STFW_STATUS_NO_MEMORY, "no memory: the agent's arena cannot hold the patches");
    for (uint64_t i = 0, off = 0; i < h->patch_count; ++i) {
      const uint64_t len = changed[2 * i + 1] - changed[2 * i];
      patches[i] = {changed[2 * i], len, given + off};
      off += len;
    }
    *copied = total;
    *out = patches;
    return TTST_STFW_STATUS_OK;
  }
  // Read by runs of whole pages (one system call per run, however many small
  // changed ranges it holds) into one buffer used again for every run, each range
  // then kept in a buffer of their bytes alone: the arena's fresh pages cost a
  // fault each, and a run's pages hold far more than the ranges in them.
  uint64_t page_bytes = 0, largest_run = 0, range_bytes = 0;
  for (uint64_t i = 0, lo, hi; i < h->patch_count;) {
    i = page_run(changed, h->patch_count, i, &lo, &hi), page_bytes += hi - lo;
    if (hi - lo > largest_run) largest_run = hi - lo;
  }
  for (uint64_t i = 0; i < h->patch_count; ++i) range_bytes += changed[2 * i + 1] - changed[2 * i];
  // The changed ranges' bytes now: the run buffer, the patches, their bytes.
  const uint64_t run_room = (largest_run + 4095) & ~uint64_t{4095};
  const uint64_t patch_room = (sizeof(ttst::stfw::SourcePatch) * (h->patch_count + 1) + 15) & ~uint64_t{15};
  uint8_t* buffers = run_buffers(k, run_room + patch_room + range_bytes + 16);
  uint8_t* run_buf = buffers;
  ttst::stfw::SourcePatch* patches =
      buffers ? reinterpret_cast<ttst::stfw::SourcePatch*>(buffers + run_room) : nullptr;
  uint8_t* kept = buffers ? buffers + run_room + patch_room : nullptr;
  if (!buffers)
    return fail(desc, TTST_STFW_STATUS_NO_MEMORY, "no memory: the agent's arena cannot hold the changed ranges");
  char path[48];
  ttst::stfw::proc_path(path, desc->peer_pid, "mem");
  long mem = agent_syscall3(kSysOpen, reinterpret_cast<long>(path), kOCloexec, 0);
  if (mem < 0) return fail_open(desc, -mem, "/proc/PEER/mem of the peer");
  // With process_vm_readv first: it pins each page, and the kernel copies a pinned
  // page the peer shares with another process — but every changed page is the
  // peer's own (P wrote it since its key was forked, F since F_key was: copy-on-
  // write gave it its own frame), so nothing is copied, and one copy per byte is
  // made instead of /proc/PEER/mem's two. /proc/PEER/mem for a run it cannot read
  // whole (a page without PROT_READ).
  for (uint64_t i = 0, off = 0, run_lo, run_hi; i < h->patch_count;) {
    const uint64_t j = page_run(changed, h->patch_count, i, &run_lo, &run_hi);
    if (agent_read_peer(desc->peer_pid, run_buf, run_lo, run_hi - run_lo) != long(run_hi - run_lo) &&
        read_mem(mem, run_buf, run_lo, run_hi - run_lo) != long(run_hi - run_lo)) {
      agent_syscall3(kSysClose, mem, 0, 0);
      return fail(desc, TTST_STFW_STATUS_BAD_INPUT, "bad input: a changed range of the peer is unreadable");
    }
    for (; i < j; ++i) {
      const uint64_t len = changed[2 * i + 1] - changed[2 * i];
      __builtin_memcpy(kept + off, run_buf + (changed[2 * i] - run_lo), len);
      patches[i] = {changed[2 * i], len, kept + off};
      off += len;
    }
  }
  agent_syscall3(kSysClose, mem, 0, 0);
  *copied = page_bytes;
  *out = patches;
  return TTST_STFW_STATUS_OK;
}

// TTST_AGENT_TASK_STFW_DELTA: the kept run found, the peer's changed ranges' bytes
// (given, or read from the peer: P stopped again, or F after its second run), the
// engine's second run, its figures as a transfer's.
int64_t task_stfw_delta(ttst_agent_desc* desc) {
  KeptRun* k = reinterpret_cast<KeptRun*>(desc->arg[TTST_STFW_DELTA_ARG_KEPT]);
  const uint64_t at = reinterpret_cast<uint64_t>(k);
  // In the region's heap, before this run's part of it (the first run's).
  if (at < desc->region.addr || at + sizeof(KeptRun) > desc->heap.addr || at % 8 ||
      k->magic != kKeptRunMagic)
    return fail(desc, TTST_STFW_STATUS_BAD_INPUT, "bad input: no kept transfer at the delta task's address");
  TransferSetup& setup = *k->setup;
  if (setup.backward != (desc->mode == TTST_AGENT_MODE_BACKWARD) ||
      setup.cfg.dst_bias != desc->arg[TTST_STFW_DELTA_ARG_SELF_BIAS])
    return fail(desc, TTST_STFW_STATUS_BAD_INPUT, "bad input: the kept transfer runs the other way or elsewhere");
  const uint64_t *changed = nullptr, *own = nullptr;
  const uint8_t *frames = nullptr, *given = nullptr;
  const ttst_stfw_delta_header* h = delta_input(desc, &changed, &own, &frames, &given);
  if (!h) return fail(desc, TTST_STFW_STATUS_BAD_INPUT, "bad input: the delta task's input is malformed");
  const uint64_t cpu_start = thread_cpu_ns(), copy_start = read_cycles();
  setup.desc = desc, setup.ctx.peer = desc->peer_pid;
  desc->progress[0] = TTST_AGENT_PROGRESS_COPY;
  for (uint64_t i = 0; i < h->patch_count; ++i)
    if (changed[2 * i + 1] <= changed[2 * i] || changed[2 * i + 1] - changed[2 * i] > (1ull << 40))
      return fail(desc, TTST_STFW_STATUS_BAD_INPUT, "bad input: an empty or absurd changed range");
  // The peer's brk heap grown since the first run: its copy grows into the room kept.
  uint64_t heap_hi = 0;
  if (setup.heap_region >= 0) {
    Region& heap = setup.regions[setup.heap_region];
    const uint64_t end = heap.addr + heap.size;
    uint64_t last = end;  // the end of the patches that start inside the heap or right after it
    for (uint64_t i = 0; i < h->patch_count; ++i)
      if (changed[2 * i] >= heap.addr && changed[2 * i] <= last && changed[2 * i + 1] > last) last = changed[2 * i + 1];
    if (last > end) {
      if (last > end + setup.heap_slack)
        return fail(desc, TTST_STFW_STATUS_DELTA_REFUSED,
                    "delta refused: the peer's heap grew beyond the room the first run kept for it");
      setup.heap_slack -= last - end;
      heap.size = last - heap.addr, heap_hi = last;
      for (uint64_t i = 0; i < setup.cfg.src_mapping_count; ++i)  // and the mapping the engine knows
        if (setup.cfg.src_mappings[i].addr == setup.cfg.src_heap_lo)
          const_cast<Region&>(setup.cfg.src_mappings[i]).size = last - setup.cfg.src_heap_lo;
    }
  }
  ttst::stfw::SourcePatch* patches = nullptr;
  if (const int64_t status = changed_bytes(desc, k, h, changed, given, &patches, &setup.copied_bytes))
    return status;
  // Symbols of the peer's executable and libraries by its /proc files: now P's (the
  // first run's peer was the snapshot S, ended since).
  if (auto* symbols = arena_new<ttst::stfw::LibrarySymbols>(desc->peer_pid, setup.peer_exe, setup.self_exe))
    setup.ctx.symbols = symbols;
  // Backward: R's objects read in place. The window of /proc/self/mem the first
  // run slid over R's heap (engine_own_memory.cc) costs a 4 MiB read per object
  // when the objects are few and far apart, as a second run's are.
  if (setup.backward) k->env->read_own = nullptr;
  const uint64_t copy_cycles = read_cycles() - copy_start;
  ttst::stfw::Delta d;
  d.patches = patches, d.patch_count = h->patch_count;
  d.own_ranges = own, d.own_ranges_count = h->own_count;
  d.frames = frames, d.frames_size = h->frames_size;
  d.src_heap_hi = heap_hi;
  d.last = desc->arg[TTST_STFW_DELTA_ARG_LAST] != 0;
  d.out = reinterpret_cast<char*>(desc->output.addr), d.out_size = desc->output.size;
  setup.arena_before_engine = agent_alloc_used();
  ttst::stfw::Result r = ttst::stfw::transfer_delta(k->engine, d);
  report(setup, r, copy_cycles, cpu_start);
  return r.status;
}

}  // namespace

AGENT_TASK(TTST_AGENT_TASK_STFW_FORWARD, task_stfw_forward);
AGENT_TASK(TTST_AGENT_TASK_STFW_BACKWARD, task_stfw_backward);
AGENT_TASK(TTST_AGENT_TASK_STFW_DELTA, task_stfw_delta);
