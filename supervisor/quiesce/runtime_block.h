// runtime_block.h — the runtime block (struct ttst_runtime, stfw/abi/ttst_abi.h §3)
// of another process, at its run-time address: the few fields the supervisor reads
// and writes, each by its offset in the ABI struct, in one place. TRUSTED.
//
// Who writes what (ttst_abi.h §4, §5): in P only update_requested, set to drive a
// busy P to its update point and cleared when that fails or the update rolls back;
// in F past_pid (the commit point) and update_requested/updating (cleared when F is
// released to serve).
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "inject/remote_addr.h"

namespace ttst::quiesce {

class RemoteRuntimeBlock {
 public:
  RemoteRuntimeBlock(pid_t pid, inject::RemoteAddr address) : pid_(pid), address_(address) {}

  pid_t pid() const { return pid_; }
  inject::RemoteAddr address() const { return address_; }

  // update_requested (§4). Every write throws inject::InjectError when it fails;
  // the read returns false when the memory cannot be read.
  void set_update_requested(uint32_t value) const;
  bool read_update_requested(uint32_t& value) const;
  // update_requested and updating together (one write): F released to serve (§5).
  void set_flags(uint32_t update_requested, uint32_t updating) const;
  // past_pid (§5): in F, the commit point.
  void set_past_pid(pid_t past) const;

 private:
  pid_t pid_;
  inject::RemoteAddr address_;
};

}  // namespace ttst::quiesce
