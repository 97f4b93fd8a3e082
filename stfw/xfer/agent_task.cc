// agent_task.cc — the TTST_AGENT_TASK_STFW_FORWARD/BACKWARD tasks (stfw_task.h):
// bulk-reads the peer's writable memory, runs the engine, reports status, counters
// and the message. Runs inside the agent (UNTRUSTED, freestanding).
//
// Source access: /proc/PEER/maps lists the peer's mappings; every readable and
// writable one (except [vvar]/[vsyscall]) is copied into the agent's arena with
// process_vm_readv, up to 512 ranges per call. Forward allocations go through the
// program's own runtime: __ttst_transfer_alloc (stfw/runtime/ttst_runtime.c),
// found by name in this process's metadata image.
#include "stfw/stfw_task.h"
#include "stfw/xfer/decimal.h"
#include "stfw/xfer/engine.h"
#include "stfw/xfer/epoll_rebuild.h"
#include "stfw/xfer/libraries.h"
#include "stfw/xfer/proc_maps.h"
#include "stfw/xfer/process_strings.h"

extern "C" {
#include "inject/agent/agent_abi.h"
#include "inject/agent/alloc.h"
#include "inject/agent/sys.h"
#include "inject/agent/tasks.h"
}

namespace {

using ttst::stfw::Region;

constexpr long kSysMadvise = 28, kMadvHugepage = 14;

void* scratch(void*, uint64_t size) { return agent_alloc(size, 16); }

struct Ctx {
  int peer;
  uint64_t alloc_fn, free_fn;
  ttst::stfw::LibrarySymbols* symbols;
};

uint64_t library_symbol(void* c, const ttst::stfw::LibRange* lib, uint64_t v, char* symbol, uint64_t cap) {
  return static_cast<Ctx*>(c)->symbols->translate(lib, v, symbol, cap);
}

long read_source(void* c, uint64_t addr, void* buf, uint64_t len) {
  Ctx* x = static_cast<Ctx*>(c);
  // Stay within the page when the string runs to its end: try shorter reads.
  for (uint64_t n = len; n >= 64; n /= 2) {
    long r = agent_read_peer(x->peer, buf, addr, n);
    if (r > 0) return r;
  }
  uint64_t to_page = 4096 - (addr & 4095);
  return agent_read_peer(x->peer, buf, addr, to_page < len ? to_page : len);
}

uint64_t alloc_in_program(void* c, uint64_t size, uint64_t site, uint64_t origin) {
  Ctx* x = static_cast<Ctx*>(c);
  using Fn = void* (*)(uint64_t, uint64_t, uint64_t);
  return reinterpret_cast<uint64_t>(reinterpret_cast<Fn>(x->alloc_fn)(size, site, origin));
}

void free_in_program(void* c, uint64_t addr) {
  Ctx* x = static_cast<Ctx*>(c);
  using Fn = void (*)(uint64_t);
  reinterpret_cast<Fn>(x->free_fn)(addr);
}

// CPU time of this thread (CLOCK_THREAD_CPUTIME_ID), for the benchmark's figures.
uint64_t thread_cpu_ns() {
  constexpr long kSysClockGettime = 228, kClockThreadCputime = 3;
  struct {
    long sec, nsec;
  } ts{0, 0};
  if (agent_syscall3(kSysClockGettime, kClockThreadCputime, reinterpret_cast<long>(&ts), 0) != 0) return 0;
  return uint64_t(ts.sec) * 1000000000ull + uint64_t(ts.nsec);
}


// Reads the peer's writable mappings into the arena. Returns the region count, or
// -1 (message written) on failure.
int64_t copy_peer(int pid, Region** out, ttst::stfw::Config& cfg, uint64_t* bytes) {
  bool no_memory = false;
  const char* text = ttst::stfw::read_maps(pid, &no_memory);
  if (!text) return no_memory ? -2 : -1;
  Region* regs = static_cast<Region*>(agent_alloc(sizeof(Region) * 4096, 16));
  if (!regs) return -2;
  int64_t count = 0;
  ttst::stfw::MapsLine m;
  for (const char* p = text; count < 4096 && ttst::stfw::next_maps_line(p, &m);) {
    bool special = m.path_len > 1 && m.path[0] == '[' && m.path[1] == 'v';  // [vvar], [vsyscall], [vdso]
    if (!m.readable || !m.writable || special || m.hi <= m.lo) continue;
    // Adjacent mappings become one region: an object may straddle them (a .bss
    // array that runs from the executable's data page into the anonymous rest).
    if (count > 0 && regs[count - 1].addr + regs[count - 1].size == m.lo) {
      regs[count - 1].size += m.hi - m.lo;
      continue;
    }
    regs[count++] = Region{m.lo, m.hi - m.lo, nullptr};
  }
  uint64_t total = 0;
  for (int64_t i = 0; i < count; ++i) total += regs[i].size;
  uint8_t* buf = static_cast<uint8_t*>(agent_alloc(total, 4096));
  if (!buf) return -2;
  uint64_t off = 0;
  for (int64_t i = 0; i < count; ++i) regs[i].local = buf + off, off += regs[i].size;
  // Batches of up to 512 ranges; a range that fails alone (raced unmapping) is dropped.
  agent_iovec liov[512], riov[512];
  for (int64_t i = 0; i < count;) {
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

void put(ttst_agent_desc* d, const char* s) {
  char* o = reinterpret_cast<char*>(d->output.addr);
  uint64_t n = 0;
  while (s[n] && n + 2 < d->output.size) o[n] = s[n], ++n;
  o[n++] = 0;
  d->output_used = n;
}

int64_t run(ttst_agent_desc* desc, bool backward) {
  ttst::stfw::Config cfg;
  const char* why = "metadata image missing";
  if (!ttst::dwarfmeta::image::View::open(reinterpret_cast<const void*>(desc->meta_self.addr), desc->meta_self.size,
                                    &cfg.dst_meta, &why) ||
      !ttst::dwarfmeta::image::View::open(reinterpret_cast<const void*>(desc->meta_peer.addr), desc->meta_peer.size,
                                    &cfg.src_meta, &why)) {
    put(desc, why);
    return TTST_STFW_STATUS_BAD_INPUT;
  }
  cfg.backward = backward;
  cfg.dst_bias = desc->arg[TTST_STFW_ARG_SELF_BIAS];
  cfg.src_bias = desc->arg[TTST_STFW_ARG_PEER_BIAS];
  cfg.dst_runtime = desc->arg[TTST_STFW_ARG_SELF_RUNTIME];
  cfg.src_runtime = desc->arg[TTST_STFW_ARG_PEER_RUNTIME];
  cfg.verbose = desc->arg[TTST_STFW_ARG_FLAGS] & TTST_STFW_F_VERBOSE;
  cfg.out = reinterpret_cast<char*>(desc->output.addr);
  cfg.out_size = desc->output.size;
  Ctx ctx{desc->peer_pid, 0, 0, nullptr};
  if (!backward) {
    const auto* f = cfg.dst_meta.function("__ttst_transfer_alloc");
    if (!f) {
      put(desc, "bad input: this program has no __ttst_transfer_alloc (link it with a current ttst-cc)");
      return TTST_STFW_STATUS_BAD_INPUT;
    }
    ctx.alloc_fn = f->low + cfg.dst_bias;
    if (const auto* fr = cfg.dst_meta.function("__ttst_transfer_free")) ctx.free_fn = fr->low + cfg.dst_bias;
  }
  uint64_t cpu0 = thread_cpu_ns();
  uint64_t t0 = 0;
  {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    t0 = (uint64_t(hi) << 32) | lo;
  }
  // Transparent huge pages for the arena (copy and tables): a hint on the agent's own
  // region, which the host unmaps afterwards; fewer page faults and TLB misses.
  {
    uint64_t lo = (desc->heap.addr + (2u << 20) - 1) & ~uint64_t((2u << 20) - 1);
    uint64_t hi = (desc->heap.addr + desc->heap.size) & ~uint64_t((2u << 20) - 1);
    if (hi > lo) agent_syscall3(kSysMadvise, long(lo), long(hi - lo), kMadvHugepage);
  }
  Region* regs = nullptr;
  uint64_t copied = 0;
  int64_t nreg = copy_peer(desc->peer_pid, &regs, cfg, &copied);
  if (nreg < 0) {
    put(desc, nreg == -2 ? "no memory: the agent's arena cannot hold a copy of the peer's writable memory"
                         : "bad input: cannot read /proc/PEER/maps of the peer");
    return nreg == -2 ? TTST_STFW_STATUS_NO_MEMORY : TTST_STFW_STATUS_BAD_INPUT;
  }
  // Shared libraries: where the peer's are mapped here (pointers to their static data).
  auto text_addr = [](const ttst::dwarfmeta::image::View& v, uint64_t bias) -> uint64_t {
    for (uint32_t i = 0; i < v.function_count(); ++i)
      if (v.function_at_index(i).low) return v.function_at_index(i).low + bias;
    return bias;
  };
  const ttst::stfw::LibRange* libs = nullptr;
  uint64_t peer_exe = 0, self_exe = 0;
  int64_t nlibs = ttst::stfw::map_libraries(desc->peer_pid, text_addr(cfg.src_meta, cfg.src_bias),
                                            text_addr(cfg.dst_meta, cfg.dst_bias), &libs, &peer_exe, &self_exe);
  if (nlibs < 0) {
    put(desc, nlibs == -2 ? "no memory: the agent's arena cannot hold the list of libraries"
                          : "bad input: cannot read /proc/PID/maps of the peer or of this process");
    return nlibs == -2 ? TTST_STFW_STATUS_NO_MEMORY : TTST_STFW_STATUS_BAD_INPUT;
  }
  cfg.libs = libs, cfg.lib_count = uint64_t(nlibs);
  ttst::stfw::LibrarySymbols symbols(desc->peer_pid, peer_exe, self_exe);
  ctx.symbols = &symbols;
  // Thread-local globals: the executable's block (module 1) of each main thread,
  // from its thread control block (fs:0 -> tcb, tcb + 8 -> dtv, dtv[1] -> block;
  // glibc's x86-64 layout). The peer's are read from the copy.
  if (uint64_t tp = desc->arg[TTST_STFW_ARG_PEER_TP]) {
    auto word = [&](uint64_t addr) -> uint64_t {
      for (int64_t i = 0; i < nreg; ++i)
        if (addr >= regs[i].addr && addr + 8 <= regs[i].addr + regs[i].size) {
          uint64_t v;
          __builtin_memcpy(&v, regs[i].local + (addr - regs[i].addr), 8);
          return v;
        }
      return 0;
    };
    uint64_t dtv = word(tp + 8);
    cfg.src_tls = dtv ? word(dtv + 16) : 0;
    uint64_t self_tp;
    __asm__ volatile("mov %%fs:0, %0" : "=r"(self_tp));
    uint64_t self_dtv = *reinterpret_cast<const uint64_t*>(self_tp + 8);
    cfg.dst_tls = self_dtv ? *reinterpret_cast<const uint64_t*>(self_dtv + 16) : 0;
  }
  // Argument and environment strings (pointers such as argv[0] or getenv()'s); a
  // process whose stat cannot be read simply has none to map.
  ttst::stfw::read_string_areas(desc->peer_pid, &cfg.src_strings);
  ttst::stfw::read_string_areas(0, &cfg.dst_strings);
  // Forward: the data words of the epoll instances F inherited (epoll_rebuild.h).
  ttst::stfw::EpollRegistration* regs_ep = nullptr;
  int64_t nep = 0;
  if (!backward) {
    nep = ttst::stfw::list_epoll_registrations(&regs_ep);
    uint64_t* words = nep > 0 ? static_cast<uint64_t*>(agent_alloc(16 * uint64_t(nep), 16)) : nullptr;
    if (nep < 0 || (nep > 0 && !words)) {
      put(desc, nep == -1 ? "bad input: cannot list this process's epoll registrations (/proc/self/fdinfo)"
                          : "no memory: the agent's arena cannot hold the epoll registrations");
      return nep == -1 ? TTST_STFW_STATUS_BAD_INPUT : TTST_STFW_STATUS_NO_MEMORY;
    }
    for (int64_t i = 0; i < nep; ++i) words[i] = regs_ep[i].data;
    cfg.kernel_words = words, cfg.kernel_out = words + nep, cfg.kernel_count = uint64_t(nep);
  }
  uint64_t t1;
  {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    t1 = (uint64_t(hi) << 32) | lo;
  }
  ttst::stfw::Env env{&scratch, &read_source, backward ? nullptr : &alloc_in_program, &ctx,
                      ctx.free_fn ? &free_in_program : nullptr, &library_symbol};
  ttst::stfw::Result r = ttst::stfw::transfer(cfg, env);
  if (r.status == 0 && nep > 0) {
    int bad_fd = -1, stale = -1;
    long err = ttst::stfw::rebuild_epoll_instances(regs_ep, cfg.kernel_out, nep, &bad_fd, &stale);
    if (err < 0) {
      char* o = cfg.out;
      uint64_t n = 0;
      auto text = [&](const char* t) {
        while (*t && n + 2 < cfg.out_size) o[n++] = *t++;
      };
      auto num = [&](uint64_t v) {
        char digits[ttst::stfw::kDecimalDigitsMax];
        ttst::stfw::decimal_digits(v, digits);
        text(digits);
      };
      text("invariant: the epoll instance on descriptor ");
      num(uint64_t(bad_fd));
      if (stale >= 0) {
        text(" watches descriptor ");
        num(uint64_t(stale));
        text(", which is no longer the registered file (closed; the registration lives on through a dup): "
             "cannot rebuild it with translated data in the future version");
      } else {
        text(" cannot be rebuilt with translated data in the future version (errno ");
        num(uint64_t(-err));
        text(")");
      }
      o[n++] = 0;
      desc->output_used = n;
      return TTST_STFW_STATUS_INVARIANT;
    }
  }
  desc->detail[TTST_STFW_DETAIL_OBJECTS] = r.objects;
  desc->detail[TTST_STFW_DETAIL_BYTES] = r.bytes;
  desc->detail[TTST_STFW_DETAIL_POINTERS] = r.pointers;
  desc->detail[TTST_STFW_DETAIL_TRANSFORMS] = r.transforms;
  if (r.status != 0) {
    desc->output_used = r.out_used;
  } else {
    // OK: the output holds one line of figures (cycles per phase) for the benchmark.
    char* o = cfg.out;
    uint64_t n = 0;
    auto num = [&](const char* label, uint64_t v) {
      while (*label && n + 24 < cfg.out_size) o[n++] = *label++;
      char digits[ttst::stfw::kDecimalDigitsMax];
      ttst::stfw::decimal_digits(v, digits);
      for (const char* d = digits; *d && n + 2 < cfg.out_size;) o[n++] = *d++;
    };
    num("copy_cycles=", t1 - t0);
    num(" copy_bytes=", copied);
    num(" index_cycles=", r.phase_cycles[0]);
    num(" type_cycles=", r.phase_cycles[1]);
    num(" map_cycles=", r.phase_cycles[2]);
    num(" write_cycles=", r.phase_cycles[3]);
    num(" untyped_copied=", r.untyped_copied);
    num(" startup_freed=", r.freed);
    num(" cpu_ns=", thread_cpu_ns() - cpu0);  // this thread's CPU time (vs. the cycles: time not run)
    o[n++] = 0;
    desc->output_used = n;
  }
  return r.status;
}

int64_t task_stfw_forward(ttst_agent_desc* d) { return run(d, false); }
int64_t task_stfw_backward(ttst_agent_desc* d) { return run(d, true); }

}  // namespace

AGENT_TASK(TTST_AGENT_TASK_STFW_FORWARD, task_stfw_forward);
AGENT_TASK(TTST_AGENT_TASK_STFW_BACKWARD, task_stfw_backward);
