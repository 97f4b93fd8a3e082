// libevent_adapter.h — the library adapter for libevent 2.x (UNTRUSTED, runs in the
// agent inside F; library_state.h says what an adapter is).
//
// Data (kLibeventAdapter): `struct event` is the embedded type; its callback (a
// union of function pointers: translated), argument, descriptor, events and
// priority are the program's; its list links, timeout heap index, owning base,
// closure kind, last result and absolute deadline are libevent's. `struct
// event_base` is a handle: F keeps the base its own start-up made.
//
// Run time (LibeventReplay), forward, in F, with F's own copy of libevent found by
// dynamic symbol (or in the executable, linked statically):
//  1. the engine asks to withdraw F's own registrations from memory it overwrites
//     (each struct event of a global about to be written: its flags tell whether
//     it is inserted) or frees (superseded start-up objects: the events of F's
//     bases, listed with event_base_foreach_event, lying inside): event_del;
//  2. during the write: every struct event written is recorded with P's bytes;
//  3. after the transfer: each recorded event that P had set up (EVLIST_INIT) is
//     assigned to F's base standing for P's (the handle pairs; else, with a single
//     base in P, F's current base) with the transferred callback, argument,
//     descriptor and events (event_assign), its priority set, and, if P had it
//     inserted or pending on a timeout, added (event_add) with the time left of
//     P's deadline (CLOCK_MONOTONIC_COARSE, libevent's default clock); a
//     persistent event gets P's period back; an active one is activated again.
// libevent takes no lock in a program that never enabled threading
// (evthread_use_pthreads): the calls are safe on the agent's thread.
#ifndef TTST_STFW_XFER_LIBEVENT_ADAPTER_H
#define TTST_STFW_XFER_LIBEVENT_ADAPTER_H

#include <stdint.h>

#include "dwarfmeta/image.h"
#include "stfw/xfer/elf_image.h"
#include "stfw/xfer/epoll_rebuild.h"
#include "stfw/xfer/library_state.h"
#include "stfw/xfer/message.h"

namespace ttst::stfw {

class LibeventReplay {
 public:
  // src: the peer's (P's) metadata image; dst: this process's.
  LibeventReplay(const dwarfmeta::image::View& src, const dwarfmeta::image::View& dst, uint64_t dst_bias)
      : src_(src), dst_(dst), dst_bias_(dst_bias) {}
  // Finds libevent's API in this process. False: none (no registration to replay
  // can then be honoured: replay() refuses if P had any).
  bool locate();
  // The engine's hooks (engine.h Env::library_*).
  void release(uint64_t lo, uint64_t hi, uint32_t dst_type);
  void embedded(uint64_t dst, const uint8_t* src, uint32_t src_type, uint32_t dst_type, const char* name);
  void handle(uint64_t src, uint64_t dst);
  // Step 3. False: an event cannot be re-registered; the reason is in `m`.
  bool replay(Message& m);
  // P's libevent descriptors that F never uses (the result line's
  // past_library_fds, for the supervisor to close in F at commit): each epoll
  // instance of this process's (inherited) `regs`, listed before the transfer,
  // that watches every descriptor of P's inserted io events, and the descriptors
  // it watches that no event of P's program uses (libevent's own: its signal
  // socketpair's read end). Written as "3,5"; "-" when none is identified (P had
  // no inserted io event). The socketpair's write end is not identified.
  void past_descriptors(const EpollRegistration* regs, int64_t count, Message& m) const;
  // Figures for the result line: events re-registered (added), assigned only.
  uint64_t added() const { return added_; }
  uint64_t assigned() const { return assigned_; }
  uint64_t withdrawn() const { return withdrawn_; }

 private:
  struct Recorded {
    uint64_t dst;
    const uint8_t* src;
    uint32_t src_type, dst_type;
    const char* name;  // where it is in P's state, for messages
  };
  struct Pair {
    uint64_t src, dst;
  };
  uint64_t fn(const char* name) const;
  bool program_fd(int64_t fd, bool io_only) const;
  bool list_registered();
  bool listed_done_ = false;
  bool replay_one(const Recorded& r, Message& m);
  uint64_t base_for(uint64_t src_base, Message& m, const char* name);
  int64_t src_offset(uint32_t type, const char* path) const;
  int64_t dst_offset(uint32_t type, const char* path) const;
  static int64_t offset_in(const dwarfmeta::image::View& v, uint32_t type, const char* path);

  const dwarfmeta::image::View& src_;
  const dwarfmeta::image::View& dst_;
  uint64_t dst_bias_;
  uint64_t lib_start_ = 0;  // 0: libevent is the executable's own code (static)
  ElfImage image_;          // libevent*.so as mapped here (lib_start_ != 0)
  uint64_t event_add_ = 0, event_del_ = 0, event_assign_ = 0, event_priority_set_ = 0, event_active_ = 0,
           foreach_event_ = 0, current_base_ = 0;  // current_base_: &event_global_current_base_
  uint64_t* listed_ = nullptr;  // F's inserted events (addresses); 0 once withdrawn
  uint64_t listed_count_ = 0, listed_capacity_ = 0;
  Recorded* recorded_ = nullptr;
  uint64_t recorded_count_ = 0, recorded_capacity_ = 0;
  Pair pairs_[32] = {};
  uint32_t pair_count_ = 0;
  uint64_t added_ = 0, assigned_ = 0, withdrawn_ = 0;
  bool out_of_memory_ = false;

  friend int collect_listed(const void*, const void*, void*);
};

}  // namespace ttst::stfw

#endif
