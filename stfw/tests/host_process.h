// host_process.h — a version of a program laid out in a host buffer, for the
// engine's tests without processes (engine_test, backward_match_test): its metadata
// image and 64 KiB of memory at its link addresses plus a bias (the buffer's
// address, so its addresses are local addresses), holding an empty runtime block
// (every stripe's list just its sentinel). And the engine's scratch memory, which
// the tests free after each transfer (the engine never frees it).
#pragma once

#include <cstdint>
#include <vector>

#include "dwarfmeta/image.h"
#include "stfw/abi/ttst_abi.h"

namespace ttst::stfw::testing {

struct HostProcess {
  static constexpr uint64_t kMemSize = 1 << 16;
  std::vector<uint8_t> img;
  dwarfmeta::image::View v;
  uint8_t* mem = nullptr;  // kMemSize bytes at link address 0 + bias()

  // `path`: the program as a runfile ("stfw/tests/programs/state/state_v1").
  explicit HostProcess(const char* path);
  ~HostProcess();
  HostProcess(const HostProcess&) = delete;
  HostProcess& operator=(const HostProcess&) = delete;

  uint64_t bias() const { return reinterpret_cast<uint64_t>(mem); }
  ttst_runtime* runtime() { return reinterpret_cast<ttst_runtime*>(mem + v.runtime_addr()); }
};

// Env::scratch for the engine: 16-byte aligned blocks kept until free_scratch().
void* scratch(void* ctx, uint64_t size);
void free_scratch();

}  // namespace ttst::stfw::testing
