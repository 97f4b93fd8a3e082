// engine_beside.h — what the engine's two threads share while a phase runs on both
// (the write phase: engine_parallel_write.cc; the typing sweep:
// engine_parallel_typing.cc). The second thread runs a *worker*: a copy of the
// engine (engine_beside.cc) whose walk state is its own by being a copy, given its
// own message buffer, scratch windows and copies of the lazily filled memo tables;
// the tables the earlier phases built are shared. The Env's callbacks are taken one
// thread at a time through `env` (behind `lock`).
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#ifndef TTST_STFW_XFER_ENGINE_BESIDE_H
#define TTST_STFW_XFER_ENGINE_BESIDE_H

#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

class SpinLock {
 public:
  explicit SpinLock(int* word) : word_(word) {
    while (__atomic_exchange_n(word_, 1, __ATOMIC_ACQUIRE)) __builtin_ia32_pause();
  }
  ~SpinLock() { __atomic_store_n(word_, 0, __ATOMIC_RELEASE); }
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

 private:
  int* word_;
};

constexpr uint32_t kNoIndex = 0xffffffffu;

// Objects taken at a time: up to 2048, a 64th of the heap for small ones (both
// threads busy to the end), at least 16.
inline uint32_t chunk_for(uint32_t heap) { return heap / 64 > 2048 ? 2048 : heap / 64 < 16 ? 16 : heap / 64; }

struct BesideShare {
  int lock = 0;                // the Env's callbacks and `queue`, one thread at a time
  const Env* inner = nullptr;  // the engine's Env
  Env env;                     // the same callbacks behind the lock: both threads' meanwhile
  Engine* worker = nullptr;
  uint32_t chunk = 0;                // objects taken at a time (chunk_for)
  uint32_t first_failed = kNoIndex;  // writing: the lowest object index a thread failed at (atomic min)
  uint64_t done = 0;                 // writing: heap objects written, for the progress word
  // Typing: objects to walk handed from a thread with many to one with none
  // (under `lock`); `busy` threads started and still sweeping or walking (when it
  // is 0 and the queue empty, no work is left anywhere), `hungry` set by a thread
  // with nothing left to do.
  uint32_t* queue = nullptr;
  uint32_t queue_count = 0, queue_capacity = 0;
  uint32_t busy = 0, hungry = 0;

  // The heap objects not taken yet, [front, back) (both phases set it). The typing
  // sweep takes chunks from the front on both threads; the write phase's worker
  // takes them from the back, so each thread's run of the table stays one piece —
  // and so does its run of R's heap, which the backward write reads through a
  // window per thread (engine_own_memory.cc): taken in turns, both threads read all
  // of it. Sequentially consistent: the typing relies on a chunk's taking being
  // ordered with the flags it then reads (engine_parallel_typing.cc).
  uint64_t ends = 0;  // front << 32 | back
  void set_untaken(uint32_t front, uint32_t back) { ends = (uint64_t(front) << 32) | back; }
  uint32_t front() const { return uint32_t(__atomic_load_n(&ends, __ATOMIC_SEQ_CST) >> 32); }
  // The next chunk [*from, *to), from the front or the back; false when none is left.
  bool take_chunk(bool from_back, uint32_t* from, uint32_t* to) {
    uint64_t seen = __atomic_load_n(&ends, __ATOMIC_SEQ_CST), want;
    do {
      const uint32_t front = uint32_t(seen >> 32), back = uint32_t(seen);
      if (front >= back) return false;
      const uint32_t n = back - front > chunk ? chunk : back - front;
      *from = from_back ? back - n : front, *to = from_back ? back : front + n;
      want = from_back ? (seen & ~0xffffffffull) | *from : (uint64_t(*to) << 32) | back;
    } while (!__atomic_compare_exchange_n(&ends, &seen, want, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    return true;
  }
  // [from, to) of the back chunk last taken, left undone, back to the front's taker.
  void give_back(uint32_t from, uint32_t to) {
    uint64_t seen = __atomic_load_n(&ends, __ATOMIC_SEQ_CST);
    while (uint32_t(seen) == from &&
           !__atomic_compare_exchange_n(&ends, &seen, (seen & ~0xffffffffull) | to, true, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST)) {
    }
  }
};

}  // namespace ttst::stfw::engine_detail

#endif
