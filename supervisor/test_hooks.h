// test_hooks.h — what a TEST VARIANT of ttst-supervise may change in a transaction
// (Options::test_hooks). The shipped ttst-supervise never sets it: no argument and
// no environment variable reaches it, and the agent it embeds has no test task
// (inject/agent/BUILD). The test variant (supervise_testing_main.cc, testonly)
// builds it from TTST_SUPERVISE_TEST_* variables and links the test agent.
// TRUSTED (the transaction reads it; only test code writes it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "inject/agent_image.h"
#include "supervisor/time_limit.h"

namespace ttst::supervisor {

struct TestHooks {
  // The agent to inject instead of the shipped one (inject/testing_agent.h).
  const inject::AgentImage* agent = nullptr;
  // Agent task ids run instead of the forward / backward transfer (e.g. 2, NULL
  // dereference; 0, the empty task; 102, the backward transfer losing one write).
  std::optional<uint32_t> forward_task, backward_task;
  // The agent task id run instead of pre-copy's second runs (stfw_task.h
  // TTST_AGENT_TASK_STFW_DELTA; 104: the second runs, the forward one losing a write).
  std::optional<uint32_t> delta_task;
  // The supervisor SIGKILLs itself at this commit step (commit.past_pid,
  // commit.unleashed, commit.past_doomed, commit.flushed, commit.released, and
  // commit.grace: at the first system call of F during the grace period).
  std::string die_at;
  // A bug simulated at the start of this phase ("plan", "forward"...): a
  // std::logic_error, which the transaction must report as internal (exit 3).
  std::string bug_in;
  // The supervisor stops itself (SIGSTOP) as this phase starts ("diff"...) or at
  // this commit step, until the test sends it SIGCONT: P is then stopped by us,
  // and the test can signal it at a known point of the transaction. Several,
  // comma-separated ("backward,forward_delta"): at each.
  std::string pause_at;
  bool pauses_at(const std::string& name) const {
    return ("," + pause_at + ",").find("," + name + ",") != std::string::npos;
  }
  // Pre-copy: the pages P must have written since the snapshot (its minor faults)
  // for a round on the delta instead of the stop's second runs (0: always).
  std::optional<uint64_t> round_faults;
  // Pre-copy: the second runs are not given the changed bytes the supervisor read
  // (as when they do not fit the kept region's input slot): they read them.
  bool agents_read = false;
  // The default time limit's bounds instead of those derived from P's size
  // (time_limit.h), when no --timeout is given: small ones, to hit each quickly.
  std::optional<TimeLimits> limits;
};

}  // namespace ttst::supervisor
