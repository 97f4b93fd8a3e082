// host_process.h — a version of a program laid out in a host buffer, for the
// engine's tests without processes (engine_test, backward_match_test,
// deep_nesting_test): its metadata image and 1 MiB of memory at its link
// addresses plus a bias (the buffer's address, so its addresses are local
// addresses), holding an empty runtime block (every stripe's list just its
// sentinel); its globals by ID, heap objects added by hand, and one transfer
// between two of them. And the engine's scratch memory, which the tests free after
// each transfer (the engine never frees it).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "dwarfmeta/image.h"
#include "stfw/abi/ttst_abi.h"
#include "stfw/xfer/engine.h"

namespace ttst::stfw::testing {

struct HostProcess {
  static constexpr uint64_t kMemSize = 1 << 20;
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

  // The global `id` (a state ID) + `off`: its bytes here, its address; a function's entry.
  uint8_t* at(const char* id, uint64_t off = 0);
  uint64_t addr(const char* id, uint64_t off = 0) { return reinterpret_cast<uint64_t>(at(id, off)); }
  uint64_t fn(const char* id);
  template <class T>
  void put(const char* id, uint64_t off, T x) {
    std::memcpy(at(id, off), &x, sizeof x);
  }
  template <class T>
  T get(const char* id, uint64_t off = 0) {
    T x;
    std::memcpy(&x, at(id, off), sizeof x);
    return x;
  }

  // A live heap object of `size` zeroed bytes whose descriptor is at link address
  // `desc_at`, appended to stripe 0's list (walked last): its payload.
  uint8_t* add_heap_object(uint64_t desc_at, uint64_t size, uint64_t dyn_id, uint64_t origin_id = 0);
};

// Env::alloc for a forward transfer into `dest`: blocks carved one after another
// from its link address `at` on (dyn_id 100 + origin). carve_future_from() first.
void carve_future_from(HostProcess& dest, uint64_t at);
uint64_t carve_future(void* ctx, uint64_t size, uint64_t site, uint64_t origin);

// state_v1's struct dnode { prev, next; int v; } objects linked into a ring through
// the global `ring`, in order by next, every prev the ring itself; node k holds
// first_value + k.
void link_dnode_ring(HostProcess& p, const std::vector<uint8_t*>& nodes, int32_t first_value);

// Env::scratch for the engine: 16-byte aligned blocks kept until free_scratch().
void* scratch(void* ctx, uint64_t size);
void free_scratch();

// When the function the engine hands Env::beside runs: never (no beside), to its
// end before beside() returns, only in beside_wait(), or on a thread of its own.
enum class BesideSchedule { kNone, kFirst, kLast, kRacing };

// One transfer from `source` into `dest` (the engine's Config and Env filled from
// both; the rest from here) and its one-line message.
struct HostTransfer {
  bool backward = false;
  void* (*scratch)(void*, uint64_t) = &testing::scratch;
  std::vector<Region> regions = {};  // the source's copy; empty: its whole buffer
  std::vector<uint64_t>* kernel_words = nullptr;  // with kernel_out: epoll data words
  std::vector<uint64_t>* kernel_out = nullptr;
  uint64_t (*alloc)(void*, uint64_t, uint64_t, uint64_t) = nullptr;  // Env::alloc (forward)
  void (*release)(void*, uint64_t) = nullptr;                          // Env::release (forward)
  uint64_t own_stack_lo = 0, own_stack_hi = 0, own_frame = 0;          // Config's (engine_frames.cc)
  bool library_adapters = false;  // the library adapters (library_state.h) and `library_env`'s hooks
  long (*read_own)(void*, uint64_t, void*, uint64_t) = nullptr;  // Env::read_own (backward)
  Env library_env = {};
  // Env::beside (the agent's helper thread's part), run in the given schedule, and
  // the heap objects from which the engine uses it (Config::beside_min).
  BesideSchedule beside = BesideSchedule::kNone;
  uint32_t beside_min = 32768;
};
// How many times the engine started a second thread (HostTransfer::beside) since the
// test program started.
extern int beside_started;
struct TransferRun {
  Result r;
  std::string msg;  // the message, without its advised fix
  std::vector<Superseded> superseded;  // r.superseded, copied before the scratch is freed
  std::string fix;  // the advised fix the message ended with ("; fix: ...", refusal_advice.cc), "" when none
};
TransferRun run_transfer(HostProcess& source, HostProcess& dest, HostTransfer how = {});

}  // namespace ttst::stfw::testing
