// engine_locks.cc — glibc's pthread locks in the transferred state (issue 19):
// pthread_mutex_t, pthread_cond_t and pthread_rwlock_t, wherever the state holds
// them (globals, heap objects, struct members), recognised by glibc's type names
// (the union whose first member is struct __pthread_mutex_s / __pthread_cond_s /
// __pthread_rwlock_arch_t, x86-64 layout).
//  - Held at quiescence (a mutex's lock word, a rwlock's readers or writer): the
//    transfer is refused naming the lock by its path and its owner (the tid in the
//    mutex word): carried, it would stay held with no thread to release it.
//  - Forward, free: carried as unlocked — zeros (what PTHREAD_*_INITIALIZER is)
//    but for its attributes (a mutex's kind, spins and elision; a condition
//    variable's clock and process-shared bits; a rwlock's flags and sharing).
//    Never as bytes: a condition variable in P records P's waiters (a thread of P
//    blocked in pthread_cond_wait), none of which waits in F; carried as is, v2's
//    second pthread_cond_signal waits forever for that waiter (glibc's group switch).
//    Unless F's own threads use it: a lock one of them holds, or a condition
//    variable one of them waits in, at its update point or quiescent call (every
//    thread of F is stopped there; the transfer's own allocations are zeroed, so
//    only F's start-up objects can be in use) keeps F's bytes: they describe F's
//    threads (memcached's crawler waits in its condition variable holding nothing,
//    its lock free; overwritten, the waiter would never be woken).
//  - Backward: R keeps its own bytes (P's, waiters included: R is P's clone), so
//    the diff compares the rest; F's lock state is F's threads', not P's: a lock
//    held in F (by F's thread at its update point) is not refused.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

int Engine::lock_kind(const View& meta, uint32_t type) const {
  type = meta.strip(type);
  const ImageType& t = meta.type(type);
  if (t.kind != kUnion || meta.member_count(t) == 0) return kNoLock;
  const ImageType& data = meta.type(meta.strip(meta.members(t)[0].type));
  if (data.kind != kStruct || data.name == dwarfmeta::image::kNone) return kNoLock;
  const char* name = meta.str(data.name);
  if (streq(name, "__pthread_mutex_s") && t.size == 40) return kMutexLock;
  if (streq(name, "__pthread_cond_s") && t.size == 48) return kCondLock;
  if (streq(name, "__pthread_rwlock_arch_t") && t.size == 56) return kRwLock;
  return kNoLock;
}

void Engine::transfer_lock(int kind, const uint8_t* src, uint8_t* dst, uint64_t size) {
  if (mode_ == kType) return;
  if (mode_ == kZero) return;  // backward's scratch image keeps R's bytes there (engine_writing.cc)
  // Backward: R keeps P's bytes, so nothing of F's lock is carried; a lock F's own
  // thread holds at its update point (memcached's hash maintenance thread holds
  // maintenance_lock there, P's waits in pthread_cond_wait) is F's thread's to release.
  if (config_.backward) return;
  if (kind == kMutexLock && load_uint(src, 4) != 0) {
    fail_at_current(TTST_STFW_STATUS_INVARIANT, "invariant: ");
    message_.text(" is a pthread mutex held at quiescence by thread ")
        .number(load_uint(src + 8, 4))
        .text(": carried, it would stay locked with no thread to unlock it; update when no thread holds it");
    return;
  }
  if (kind == kRwLock && ((load_uint(src, 4) >> 3) != 0 || load_uint(src + 24, 4) != 0)) {
    fail_at_current(TTST_STFW_STATUS_INVARIANT, "invariant: ");
    message_.text(" is a pthread rwlock held at quiescence (")
        .number(load_uint(src, 4) >> 3)
        .text(" reader(s), writer thread ")
        .number(load_uint(src + 24, 4))
        .text("): carried, it would stay locked; update when no thread holds it");
    return;
  }
  const bool in_use_here = kind == kMutexLock  ? load_uint(dst, 4) != 0
                           : kind == kCondLock ? (load_uint(dst + 36, 4) >> 3) != 0  // __wrefs: waiters
                                               : (load_uint(dst, 4) >> 3) != 0 || load_uint(dst + 24, 4) != 0;
  if (in_use_here) return;  // F's threads hold it or wait in it: F's bytes stay
  zero(dst, size);
  if (kind == kMutexLock) copy(dst + 16, src + 16, 8);                        // __kind, __spins, __elision
  if (kind == kCondLock) store_uint(dst + 36, 4, load_uint(src + 36, 4) & 3);  // __wrefs: clock, pshared
  if (kind == kRwLock) copy(dst + 28, src + 28, 5), copy(dst + 48, src + 48, 4);  // __shared, __rwelision; __flags
  result_.bytes += size;
}

}  // namespace ttst::stfw::engine_detail
