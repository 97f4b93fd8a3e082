// state_pair.h — test and benchmark support (not part of the trusted core): a past
// process P forked from the caller, which builds its state, then creates R with a
// raw fork system call, exactly like the supervisor's remote clone: no libc code
// runs after the fork, so P and R start identical in every byte (only registers
// differ). Both then wait in pause() forever, touching no memory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "diff/differ.h"

namespace ttst::diff::testing {

class StatePair {
 public:
  // `setup` runs in P before R is forked. When r_map_len > 0, R (only) then maps
  // r_map_len bytes of private anonymous memory with protection r_map_prot at
  // r_map_addr (MAP_FIXED_NOREPLACE), standing in for an agent's region or a leak.
  // Throws std::runtime_error on failure.
  explicit StatePair(const std::function<void()>& setup, uint64_t r_map_addr = 0,
                     uint64_t r_map_len = 0, int r_map_prot = 0);
  ~StatePair();  // kills and reaps R and P
  StatePair(const StatePair&) = delete;
  StatePair& operator=(const StatePair&) = delete;

  pid_t p() const { return p_; }
  pid_t r() const { return r_; }

 private:
  pid_t p_ = -1, r_ = -1;
};

// The rseq fields the kernel writes in P's and R's only thread (forked from the
// calling thread, so its area is the caller's), as the supervisor would list them
// from PTRACE_GET_RSEQ_CONFIGURATION. Empty when glibc registered no rseq area.
std::vector<IgnoredRange> caller_rseq_fields();

// Writes `len` bytes at `addr` of `pid` through /proc/PID/mem; throws on failure.
void poke(pid_t pid, uint64_t addr, const void* data, size_t len);
template <typename T>
void poke_value(pid_t pid, const T* addr, const T& v) {
  poke(pid, reinterpret_cast<uint64_t>(addr), &v, sizeof v);
}

}  // namespace ttst::diff::testing
