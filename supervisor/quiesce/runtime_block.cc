// runtime_block.cc — see runtime_block.h.
#include "supervisor/quiesce/runtime_block.h"

#include <cstddef>
#include <span>

#include "inject/memory.h"
#include "stfw/abi/ttst_abi.h"

namespace ttst::quiesce {
namespace {

template <class T>
std::span<const uint8_t> bytes_of(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof v};
}

}  // namespace

// update_requested and updating are adjacent (ttst_abi.h §3): one write sets both.
static_assert(offsetof(struct ttst_runtime, updating) ==
              offsetof(struct ttst_runtime, update_requested) + sizeof(uint32_t));

void RemoteRuntimeBlock::set_update_requested(uint32_t value) const {
  inject::write_memory(pid_, address_ + offsetof(struct ttst_runtime, update_requested), bytes_of(value));
}

bool RemoteRuntimeBlock::read_update_requested(uint32_t& value) const {
  std::span<uint8_t> out(reinterpret_cast<uint8_t*>(&value), sizeof value);
  return inject::try_read_memory(pid_, address_ + offsetof(struct ttst_runtime, update_requested), out) ==
         sizeof value;
}

void RemoteRuntimeBlock::set_flags(uint32_t update_requested, uint32_t updating) const {
  const uint32_t v[2] = {update_requested, updating};
  inject::write_memory(pid_, address_ + offsetof(struct ttst_runtime, update_requested), bytes_of(v));
}

void RemoteRuntimeBlock::set_past_pid(pid_t past) const {
  const uint64_t v = static_cast<uint64_t>(past);
  inject::write_memory(pid_, address_ + offsetof(struct ttst_runtime, past_pid), bytes_of(v));
}

}  // namespace ttst::quiesce
