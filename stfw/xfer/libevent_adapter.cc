// libevent_adapter.cc — see libevent_adapter.h. UNTRUSTED, freestanding (agent).
#include "stfw/xfer/libevent_adapter.h"

#include "stfw/xfer/proc_maps.h"

extern "C" {
#include "inject/agent/alloc.h"
#include "inject/agent/sys.h"
}

namespace ttst::stfw {
namespace {


// EVLIST_* (event2/event_struct.h) and EV_* (event2/event.h).
constexpr uint64_t kListTimeout = 0x01, kListInserted = 0x02, kListActive = 0x08, kListInternal = 0x10,
                   kListActiveLater = 0x20, kListFinalizing = 0x40, kListInit = 0x80;
constexpr uint64_t kEvSignal = 0x08, kEvPersist = 0x10, kEvIo = 0x02 | 0x04 | 0x80;  // EV_READ, EV_WRITE, EV_CLOSED
constexpr long kSysClockGettime = 228, kClockMonotonicCoarse = 6;

struct Timeval {
  int64_t sec, usec;
};

uint64_t load(uint64_t addr, uint64_t n) {
  uint64_t v = 0;
  __builtin_memcpy(&v, reinterpret_cast<const void*>(addr), n);
  return v;
}

bool name_starts(const char* path, uint64_t len, const char* prefix) {
  uint64_t base = 0;
  for (uint64_t i = 0; i < len; ++i)
    if (path[i] == '/') base = i + 1;
  for (uint64_t k = 0; prefix[k]; ++k)
    if (base + k >= len || path[base + k] != prefix[k]) return false;
  return true;
}

}  // namespace

// libevent's entry points here: the executable's own (linked statically), else a
// mapped libevent*.so's dynamic symbols (libevent-2.1 or libevent_core-2.1).
uint64_t LibeventReplay::fn(const char* name) const {
  if (!lib_start_) {
    const auto* f = dst_.function(name);
    return f && f->low ? f->low + dst_bias_ : 0;
  }
  uint64_t start = 0, size = 0;
  return image_.symbol_named(name, &start, &size) ? start : 0;
}

bool LibeventReplay::locate() {
  if (!fn("event_add")) {
    const char* text = read_maps(0);
    MapsLine m;
    for (const char* p = text; p && next_maps_line(p, &m);) {
      if (m.offset != 0 || !m.path_len || !name_starts(m.path, m.path_len, "libevent")) continue;
      lib_start_ = m.lo;
      if (image_.open(0, lib_start_) && fn("event_add")) break;
      lib_start_ = 0;
    }
  }
  event_add_ = fn("event_add"), event_del_ = fn("event_del"), event_assign_ = fn("event_assign");
  event_priority_set_ = fn("event_priority_set"), event_active_ = fn("event_active");
  foreach_event_ = fn("event_base_foreach_event"), current_base_ = fn("event_global_current_base_");
  return event_add_ && event_del_ && event_assign_ && event_priority_set_ && event_active_;
}

int collect_listed(const void*, const void* ev, void* self) {
  LibeventReplay* r = static_cast<LibeventReplay*>(self);
  if (r->listed_count_ == r->listed_capacity_) {
    uint64_t cap = r->listed_capacity_ ? r->listed_capacity_ * 2 : 256;
    auto* bigger = static_cast<uint64_t*>(agent_alloc(cap * 8, 8));
    if (!bigger) return r->out_of_memory_ = true, 1;
    for (uint64_t i = 0; i < r->listed_count_; ++i) bigger[i] = r->listed_[i];
    r->listed_ = bigger, r->listed_capacity_ = cap;
  }
  r->listed_[r->listed_count_++] = reinterpret_cast<uint64_t>(ev);
  return 0;
}

// The events inserted in each base of this process the replay knows (the handle
// pairs' and the current base), listed once (event_base_foreach_event).
bool LibeventReplay::list_registered() {
  if (listed_done_) return !out_of_memory_;
  listed_done_ = true;
  if (!foreach_event_) return true;
  uint64_t bases[33];
  uint32_t n = 0;
  for (uint32_t i = 0; i < pair_count_; ++i) bases[n++] = pairs_[i].dst;
  if (current_base_) bases[n++] = load(current_base_, 8);
  using Foreach = int (*)(uint64_t, int (*)(const void*, const void*, void*), void*);
  for (uint32_t i = 0; i < n; ++i) {
    bool seen = bases[i] == 0;
    for (uint32_t k = 0; k < i && !seen; ++k) seen = bases[k] == bases[i];
    if (!seen) reinterpret_cast<Foreach>(foreach_event_)(bases[i], &collect_listed, this);
  }
  return !out_of_memory_;
}

// F's own registrations in memory the transfer overwrites (one struct event of a
// global: its flags say) or frees (a start-up object: the listed events inside).
void LibeventReplay::release(uint64_t lo, uint64_t hi, uint32_t dst_type) {
  using Del = int (*)(uint64_t);
  if (!event_del_) return;
  if (dst_type) {
    int64_t flags_off = dst_offset(dst_type, "ev_evcallback.evcb_flags");
    uint64_t flags = flags_off >= 0 ? load(lo + uint64_t(flags_off), 2) : 0;
    if ((flags & kListInit) && !(flags & kListInternal) &&
        (flags & (kListInserted | kListTimeout | kListActive | kListActiveLater)))
      reinterpret_cast<Del>(event_del_)(lo), withdrawn_++;
    return;
  }
  if (!list_registered()) return;
  for (uint64_t i = 0; i < listed_count_; ++i)
    if (listed_[i] >= lo && listed_[i] < hi) {
      reinterpret_cast<Del>(event_del_)(listed_[i]);
      listed_[i] = 0, withdrawn_++;
    }
}

void LibeventReplay::embedded(uint64_t dst, const uint8_t* src, uint32_t src_type, uint32_t dst_type,
                              const char* name) {
  if (recorded_count_ == recorded_capacity_) {
    uint64_t cap = recorded_capacity_ ? recorded_capacity_ * 2 : 256;
    auto* bigger = static_cast<Recorded*>(agent_alloc(cap * sizeof(Recorded), 8));
    if (!bigger) {
      out_of_memory_ = true;
      return;
    }
    for (uint64_t i = 0; i < recorded_count_; ++i) bigger[i] = recorded_[i];
    recorded_ = bigger, recorded_capacity_ = cap;
  }
  recorded_[recorded_count_++] = Recorded{dst, src, src_type, dst_type, name};
}

void LibeventReplay::handle(uint64_t src, uint64_t dst) {
  for (uint32_t i = 0; i < pair_count_; ++i)
    if (pairs_[i].src == src) return;
  if (pair_count_ < 32 && src) pairs_[pair_count_++] = Pair{src, dst};
}

// Byte offset of a member path ("ev_evcallback.evcb_flags") in struct type `type`.
int64_t LibeventReplay::offset_in(const dwarfmeta::image::View& v, uint32_t type, const char* path) {
  int64_t off = 0;
  uint32_t cur = v.strip(type);
  char part[64];
  while (*path) {
    uint64_t n = 0;
    while (path[n] && path[n] != '.' && n < 63) part[n] = path[n], ++n;
    part[n] = 0;
    path += n + (path[n] == '.');
    const dwarfmeta::image::ImageMember* m = v.member(v.type(cur), part);
    if (!m) return -1;
    off += m->offset;
    cur = v.strip(m->type);
  }
  return off;
}
int64_t LibeventReplay::src_offset(uint32_t type, const char* path) const { return offset_in(src_, type, path); }
int64_t LibeventReplay::dst_offset(uint32_t type, const char* path) const { return offset_in(dst_, type, path); }

// F's base standing for P's `src_base`: the handle pairs; with none, F's current
// base when every event of P was on one base.
uint64_t LibeventReplay::base_for(uint64_t src_base, Message& m, const char* name) {
  for (uint32_t i = 0; i < pair_count_; ++i)
    if (pairs_[i].src == src_base) {
      if (pairs_[i].dst) return pairs_[i].dst;
      break;
    }
  uint64_t only = 0;
  bool single = true;
  for (uint64_t i = 0; i < recorded_count_; ++i) {
    int64_t off = src_offset(recorded_[i].src_type, "ev_base");
    uint64_t b = off >= 0 ? load(reinterpret_cast<uint64_t>(recorded_[i].src) + uint64_t(off), 8) : 0;
    if (b && only && b != only) single = false;
    if (b) only = b;
  }
  uint64_t current = current_base_ ? load(current_base_, 8) : 0;
  if (single && current) return current;
  m.text("invariant: the libevent event ")
      .text(name)
      .text(" was registered with event_base ")
      .hex(src_base)
      .text(" of the past version, which no pointer of the program pairs with a base of the new version (")
      .text(single ? "the new version has no current base" : "the past version used several bases")
      .text("): cannot re-register it");
  return 0;
}

bool LibeventReplay::replay(Message& m) {
  if (out_of_memory_) return m.text("no memory: the agent's arena cannot hold the libevent events"), false;
  for (uint64_t i = 0; i < recorded_count_; ++i)
    if (!replay_one(recorded_[i], m)) return false;
  return true;
}

// One struct event written by the transfer: assigned, prioritised, added, activated
// as P had it.
bool LibeventReplay::replay_one(const Recorded& r, Message& m) {
  const uint64_t src = reinterpret_cast<uint64_t>(r.src);
  int64_t flags_off = src_offset(r.src_type, "ev_evcallback.evcb_flags"),
          pri_off = src_offset(r.src_type, "ev_evcallback.evcb_pri"), base_off = src_offset(r.src_type, "ev_base"),
          deadline_off = src_offset(r.src_type, "ev_timeout"), res_off = src_offset(r.src_type, "ev_res"),
          period_off = src_offset(r.src_type, "ev_.ev_io.ev_timeout");
  int64_t cb_off = dst_offset(r.dst_type, "ev_evcallback.evcb_cb_union"),
          arg_off = dst_offset(r.dst_type, "ev_evcallback.evcb_arg"), fd_off = dst_offset(r.dst_type, "ev_fd"),
          events_off = dst_offset(r.dst_type, "ev_events"), dst_period_off = dst_offset(r.dst_type, "ev_.ev_io.ev_timeout");
  if (flags_off < 0 || pri_off < 0 || base_off < 0 || deadline_off < 0 || res_off < 0 || period_off < 0 ||
      cb_off < 0 || arg_off < 0 || fd_off < 0 || events_off < 0 || dst_period_off < 0) {
    m.text("bad input: ").text(r.name).text(" is not libevent 2.x's struct event (a member is missing)");
    return false;
  }
  uint64_t flags = load(src + uint64_t(flags_off), 2);
  if (!(flags & kListInit) || (flags & kListInternal)) return true;  // never set up / the library's own
  auto refuse = [&](const char* why) {
    m.text("invariant: the libevent event ").text(r.name).text(" ");
    m.text(why);
    return false;
  };
  if (flags & kListFinalizing) return refuse("was being finalized: cannot re-register it");
  uint64_t base = base_for(load(src + uint64_t(base_off), 8), m, r.name);
  if (!base) return false;
  if (!event_assign_) return refuse("needs libevent, which the new version does not map");
  int fd = int(load(r.dst + uint64_t(fd_off), 4));
  short events = short(load(r.dst + uint64_t(events_off), 2));
  using Assign = int (*)(uint64_t, uint64_t, int, short, uint64_t, uint64_t);
  if (reinterpret_cast<Assign>(event_assign_)(r.dst, base, fd, events, load(r.dst + uint64_t(cb_off), 8),
                                              load(r.dst + uint64_t(arg_off), 8)) != 0)
    return refuse("cannot be assigned to the new version's base (event_assign failed)");
  using PrioritySet = int (*)(uint64_t, int);
  int pri = int(load(src + uint64_t(pri_off), 1));
  if (reinterpret_cast<PrioritySet>(event_priority_set_)(r.dst, pri) != 0)
    return refuse("has a priority the new version's base does not have (event_priority_set failed)");
  assigned_++;
  if (flags & (kListInserted | kListTimeout)) {
    Timeval left{0, 0}, *tv = nullptr;
    if (flags & kListTimeout) {
      Timeval deadline;
      __builtin_memcpy(&deadline, r.src + deadline_off, sizeof deadline);
      if ((deadline.usec & 0xf0000000) == 0x50000000) return refuse("uses a common timeout: not supported");
      Timeval now{0, 0};
      agent_syscall3(kSysClockGettime, kClockMonotonicCoarse, reinterpret_cast<long>(&now), 0);
      now.usec /= 1000;  // a timespec's nanoseconds
      int64_t us = (deadline.sec - now.sec) * 1000000 + (deadline.usec - now.usec);
      if (us < 0) us = 0;
      left = Timeval{us / 1000000, us % 1000000}, tv = &left;
    }
    using Add = int (*)(uint64_t, const Timeval*);
    if (reinterpret_cast<Add>(event_add_)(r.dst, tv) != 0)
      return refuse("cannot be added to the new version's base (event_add failed)");
    if ((events & kEvPersist) && !(events & kEvSignal) && tv)  // the period, not the time left
      __builtin_memcpy(reinterpret_cast<void*>(r.dst + uint64_t(dst_period_off)), r.src + period_off,
                       sizeof(Timeval));
    added_++;
  }
  if (flags & (kListActive | kListActiveLater)) {
    using Active = void (*)(uint64_t, int, short);
    reinterpret_cast<Active>(event_active_)(r.dst, int(load(src + uint64_t(res_off), 2)), 1);
  }
  return true;
}

// Does P's program have an event on descriptor `fd` (io_only: inserted, for
// reading / writing / closing)?
bool LibeventReplay::program_fd(int64_t fd, bool io_only) const {
  for (uint64_t i = 0; i < recorded_count_; ++i) {
    const Recorded& r = recorded_[i];
    const uint64_t src = reinterpret_cast<uint64_t>(r.src);
    int64_t fd_off = src_offset(r.src_type, "ev_fd"), events_off = src_offset(r.src_type, "ev_events"),
            flags_off = src_offset(r.src_type, "ev_evcallback.evcb_flags");
    if (fd_off < 0 || events_off < 0 || flags_off < 0) continue;
    uint64_t flags = load(src + uint64_t(flags_off), 2), events = load(src + uint64_t(events_off), 2);
    if (!(flags & kListInit) || int64_t(int32_t(load(src + uint64_t(fd_off), 4))) != fd) continue;
    if (!io_only || ((flags & kListInserted) && (events & kEvIo) && !(events & kEvSignal))) return true;
  }
  return false;
}

void LibeventReplay::past_descriptors(const EpollRegistration* regs, int64_t count, Message& m) const {
  bool any = false;
  for (int64_t i = 0; i < count; ++i) {
    int epfd = regs[i].epfd;
    bool first = true;  // the instance's first registration in the list
    for (int64_t k = 0; k < i && first; ++k) first = regs[k].epfd != epfd;
    if (!first) continue;
    // Every inserted io descriptor of P's program is watched by this instance?
    bool covers = true, some = false;
    for (uint64_t e = 0; e < recorded_count_ && covers; ++e) {
      const Recorded& r = recorded_[e];
      int64_t fd_off = src_offset(r.src_type, "ev_fd");
      int64_t fd = fd_off >= 0 ? int64_t(int32_t(load(reinterpret_cast<uint64_t>(r.src) + uint64_t(fd_off), 4))) : -1;
      if (fd < 0 || !program_fd(fd, true)) continue;
      some = true;
      bool watched = false;
      for (int64_t k = 0; k < count && !watched; ++k) watched = regs[k].epfd == epfd && regs[k].tfd == fd;
      covers = watched;
    }
    if (!covers || !some) continue;
    m.text(any ? "," : "").number(uint64_t(epfd));
    any = true;
    for (int64_t k = 0; k < count; ++k)
      if (regs[k].epfd == epfd && !program_fd(regs[k].tfd, false)) m.text(",").number(uint64_t(regs[k].tfd));
  }
  if (!any) m.text("-");
}

}  // namespace ttst::stfw
