// past_locks.h — the pthread locks in P's static storage (globals, their members and
// array elements) and which of them a thread holds while P is stopped. TRUSTED.
// Why: a lock held at quiescence refuses the transfer (stfw/xfer/engine_locks.cc:
// carried, it would stay held with no thread left to release it), but the agent
// meets it only while transferring. memcached 1.6's hash-table maintenance thread
// holds maintenance_lock for the seconds its table expands after a large load, and
// an update then was refused at the end of a 4.6 s forward transfer, P stopped the
// whole time. The supervisor reads these few lock words at the stop instead, and
// lets P run on until its threads have let go (transaction.cc, wait_for_free_locks).
// Locks are recognised as the engine recognises them: glibc's pthread_mutex_t and
// pthread_rwlock_t by the names and sizes of their x86-64 layouts.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dwarfmeta/model.h"
#include "inject/remote_addr.h"

namespace ttst::supervisor {

enum class LockKind : uint8_t { kMutex, kRwLock };

// One lock of static storage: "assoc.c::maintenance_lock", "stats.mu", "lru_locks[3]".
struct StaticLock {
  std::string name;
  uint64_t link_addr = 0;  // link-time address of the lock (add P's load bias)
  LockKind kind = LockKind::kMutex;
};

// Every lock of the program's non-thread-local, writable globals, in global order;
// at most `limit` (a huge array of locks: its first elements).
std::vector<StaticLock> static_locks(const dwarfmeta::Program& program, size_t limit = 4096);

// A lock found held: a mutex's owner (the thread id its word records; 0: not
// recorded), or a rwlock's readers and writer.
struct HeldLock {
  std::string name;
  LockKind kind = LockKind::kMutex;
  pid_t owner = 0;       // mutex owner or rwlock writer
  uint32_t readers = 0;  // rwlock only
};

// The locks of `locks` held in `pid` now (its memory read, never written); a lock
// whose memory cannot be read is skipped (the agent reads it again in any case).
std::vector<HeldLock> held_locks(pid_t pid, inject::LoadBias bias, std::span<const StaticLock> locks);

// "assoc.c::maintenance_lock (a pthread mutex held by thread 1234)"
std::string describe(const HeldLock& lock);

}  // namespace ttst::supervisor
