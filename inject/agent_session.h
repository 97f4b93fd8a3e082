// agent_session.h — one run of the freestanding agent inside a stopped thread of
// R or F: map a private region, load and relocate the agent, start it on its own
// stack with a task descriptor, wait (with a timeout) for it to finish, crash or
// hang, read its results, and remove every trace (region unmapped, registers,
// FPU state and signal mask restored). TRUSTED host side.
//
// A run may keep its region (AgentRequest::keep_region): a second run in the same
// process then starts in it with the first one's heap as it was — the state a task
// builds once and refines later (pre-copy's second stop) — and cure_region removes
// it. Only in a process discarded on any failure (F, R).
//
// Control channel: the region itself (only the tracer writes it before the run
// and reads it after, with process_vm_readv) and one ptrace stop: the agent ends by
// sending SIGSTOP to its own thread. Nothing is named; no other process can
// connect.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "inject/agent/agent_abi.h"
#include "inject/agent_image.h"
#include "inject/task.h"

namespace ttst::inject {

// Where each part of the agent's region lies (offsets from its start), as a run
// plans it from its request; a later run in a kept region uses the same.
struct AgentLayout {
  uint64_t desc = 0, meta_self = 0, meta_peer = 0, plugin = 0, input = 0, output = 0, heap = 0, guard = 0,
           stack = 0, total = 0;
  uint64_t heap_size = 0, stack_size = 0;  // the heap's and stack's slots
};

// A region a finished run left mapped (AgentRequest::keep_region): where it is,
// its layout (each blob's slot ends where the next part begins), and where a later
// run's heap begins (after what the runs before it allocated).
struct AgentRegion {
  uint64_t start = 0;
  AgentLayout layout;
  uint64_t heap_next = 0;   // offset from `start`: the next run's heap starts here
  uint64_t image_hash = 0;  // the relocated image in it (a later run must bring the same)
};

struct AgentRequest {
  uint32_t task = TTST_AGENT_TASK_EMPTY;
  uint32_t mode = TTST_AGENT_MODE_TEST;
  pid_t peer_pid = 0;
  std::array<uint64_t, 8> args{};
  // Copied into the region; the bytes are the caller's and must outlive run_agent.
  std::span<const uint8_t> meta_self, meta_peer, plugin;
  std::span<const uint8_t> input;  // task-specific input bytes (stfw: the frames at the update point)
  uint64_t output_size = 1 << 20;
  uint64_t heap_size = 16 << 20;
  uint64_t stack_size = 1 << 20;
  milliseconds timeout{5000};
  // Optional: called every `progress_every` while the agent runs with the words it
  // wrote to its descriptor's `progress` (agent_abi.h): display only. The timeout
  // above is fixed before the start and nothing the agent writes changes it.
  std::function<void(const std::array<uint64_t, 4>& progress, milliseconds elapsed)> on_progress;
  milliseconds progress_every{2000};
  // Optional: asked every `check_every` while the agent runs; true ends the run as
  // hung, like the timeout (the caller's own bounds: the supervisor's CPU budget,
  // from the kernel's figures, supervisor/time_limit.h).
  std::function<bool()> out_of_time;
  milliseconds check_every{250};
  // Helper threads the agent may start (agent/helper.h; 0: any thread it creates is
  // an escape). Each is traced from its first instruction and watched like the
  // agent; it must have exited when the agent finishes. Only for a process that is
  // discarded on any failure (F, R): a thread may be left in it then.
  uint32_t helpers = 0;
  // Keep the region mapped when the agent finishes (AgentOutcome::kept): its heap
  // then holds what the task allocated for a later run (in_region). Removed as
  // always when the run does not finish. Only for a process discarded on any
  // failure, like helpers: the caller ends it with cure_region or the process.
  bool keep_region = false;
  // Run in a region an earlier run in this process kept, with the same image (else
  // refused): the image's writable data, the descriptor and the blobs are written
  // again (each must fit its slot),
  // the heap starts at its heap_next, the earlier runs' bytes stay as they were.
  const AgentRegion* in_region = nullptr;
  // Room for the input a later run in a kept region may bring (0: this one's size).
  uint64_t input_capacity = 0;
};

struct AgentOutcome {
  enum class Kind { kFinished, kCrashed, kHung, kDied };
  Kind kind = Kind::kDied;
  // kFinished
  int64_t status = 0;
  std::array<uint64_t, 4> detail{};
  std::vector<uint8_t> output;
  // kCrashed / kHung
  int signal = 0;             // the fatal signal (kCrashed)
  int si_code = 0;
  uint64_t fault_address = 0; // si_addr for faults
  uint64_t rip = 0;           // where the agent stopped
  std::string instruction;    // decoded with Capstone ("mov eax, dword ptr [rax]")
  std::string symbol;         // agent-relative ("task_null_deref+0x9")
  bool stack_overflow = false;
  std::string escaped;        // set when the agent tried to leave its box (exec, fork)
  bool in_helper = false;     // the crash was its helper thread's (AgentRequest::helpers)
  // The region's place (for the report and for tests that check it is gone).
  uint64_t region_start = 0, region_size = 0;
  // keep_region and finished: the region, still mapped, for a later run.
  std::optional<AgentRegion> kept;

  // One line: "finished with status 0", "crashed: SIGSEGV at 0x0 in ...".
  std::string describe() const;
};

// Runs the agent in `thread` (stopped). The thread's context is restored and the
// region unmapped before returning, whatever the outcome; kDied means the process
// itself is gone. A helper thread still there at the end (crashed, left running,
// or beside a crashed or hung agent) has the process killed: never let go.
// Throws only when the engine itself fails (InjectError).
AgentOutcome run_agent(Task& thread, const AgentRequest& request,
                       const AgentImage& image = AgentImage::embedded());

// Unmaps a kept region (the thread stopped; its registers restored after the
// call). Throws InjectError when the process refuses.
void cure_region(Task& thread, const AgentRegion& region);

}  // namespace ttst::inject
