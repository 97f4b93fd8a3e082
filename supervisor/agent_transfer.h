// agent_transfer.h — one state transfer: the agent run in F (forward, peer P) or in
// R (backward, peer F) with the stfw task of stfw_task.h, and its outcome read back:
// the counters of a transfer that finished, or the end of the transaction (a refusal
// by the engine, a crash, a hang, a dead process) as transaction_end.h. TRUSTED.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <span>
#include <vector>

#include "inject/agent_session.h"
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

// Pre-copy stage 2 (README "Pre-copy"): a transfer kept for a second run
// (stfw_task.h TTST_STFW_F_KEEP): the agent's region left mapped in F or R, and
// the kept run in it (the agent's "kept" line).
struct KeptTransfer {
  inject::AgentRegion region;
  uint64_t run = 0;
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
  // Pre-copy's round: the transfer kept for a second run (filled when the agent
  // kept it; left empty when it did not say so). NULL: not kept.
  std::optional<KeptTransfer>* keep = nullptr;
  // Backward: [lo, hi) of F left out of the agent's copy (F's kept agent region).
  std::pair<uint64_t, uint64_t> peer_skip{0, 0};
};

// The second run of a kept transfer (stfw_task.h TTST_AGENT_TASK_STFW_DELTA), in
// the region the first run kept: forward in F (peer P, stopped again), backward in
// the round's R (P's changed pages copied in; peer F).
struct DeltaTransferRequest {
  bool backward = false;
  inject::Task* thread = nullptr;
  const char* process = "";
  pid_t peer = 0;
  const KeptTransfer* kept = nullptr;
  TransferSide self, other;  // as the first run's (its metadata slots are written again)
  std::span<const uint8_t> plugin;
  std::vector<std::pair<uint64_t, uint64_t>> changed;  // [lo, hi) of the peer written since the first run
  // Their bytes, back to back, as the supervisor read them from the peer (stopped
  // since): the agent then reads none. Empty, or more than the kept region's input
  // slot holds with the rest (a long first round's delta): it reads them itself.
  std::vector<uint8_t> changed_bytes;
  std::vector<std::pair<uint64_t, uint64_t>> own;      // backward: [lo, hi) of R written since (P's pages)
  std::vector<uint8_t> frames;                         // the frames now (as TransferRequest::frames)
  TimeLimit* limit = nullptr;
  bool keep = false;  // the region kept again, for a later second run (pre-copy's rounds on the delta)
};

struct DeltaTransferOutcome {
  std::optional<Transfer> done;  // finished
  std::string why_not;           // else why not: refused, crashed, hung (the caller transfers everything again)
  std::optional<KeptTransfer> kept;  // keep and finished: the region and run, for the next second run
};

// Runs the second run. Never ends the transaction: whatever stops it is the
// caller's reason to transfer everything again in the stop.
// `hooks` (test variants only): the agent image (the round's: a kept region runs
// only the image that kept it) and a task instead of the second runs'.
DeltaTransferOutcome run_delta_transfer(const DeltaTransferRequest& request, const TestHooks* hooks);

// Runs the transfer; returns its counters, or ends the transaction (rollback() or
// internal(), transaction_end.h). `hooks` (test variants only) may replace the task
// and the agent.
Transfer run_transfer(const TransferRequest& request, const TestHooks* hooks);

}  // namespace ttst::supervisor
