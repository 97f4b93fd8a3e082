// agent_transfer.h — one state transfer: the agent run in F (forward, peer P) or in
// R (backward, peer F) with the stfw task of stfw_task.h, and its outcome read back:
// the counters of a transfer that finished, or the end of the transaction (a refusal
// by the engine, a crash, a hang, a dead process) as transaction_end.h. TRUSTED.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "inject/remote_addr.h"
#include "inject/task.h"
#include "supervisor/report.h"
#include "supervisor/test_hooks.h"
#include "supervisor/time_limit.h"

namespace ttst::supervisor {

// One side of a transfer: a process and its executable's place in it.
struct TransferSide {
  std::span<const uint8_t> metadata_image;  // dwarfmeta image of its executable
  inject::LoadBias bias;
  inject::RemoteAddr runtime_block;
};

struct TransferRequest {
  bool backward = false;      // R from F; else F from P
  inject::Task* thread = nullptr;  // F's or R's thread, stopped at its update point
  const char* process = "";   // "future" / "reversed", for the report
  pid_t peer = 0;
  uint64_t peer_thread_pointer = 0;  // the peer's fs_base (its thread-local globals)
  TransferSide self, other;
  TimeLimit* limit = nullptr;  // the transaction's (time_limit.h): checked while the agent runs
  std::span<const uint8_t> plugin;  // --xfer: the user's transfer plugin (an ELF), else empty
  std::vector<uint8_t> frames;  // the agent's input: the threads' frames (past_frames.h), may be empty
  std::vector<inject::Task*> other_threads;  // forward: F's other threads, stopped (issue 19): their registers and stacks settled too
};

// Runs the transfer; returns its counters, or ends the transaction (rollback() or
// internal(), transaction_end.h). `hooks` (test variants only) may replace the task
// and the agent.
Transfer run_transfer(const TransferRequest& request, const TestHooks* hooks);

}  // namespace ttst::supervisor
