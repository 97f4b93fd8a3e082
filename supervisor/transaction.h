// transaction.h — one live update of a running program P to a new version, the
// TTST way (shared/DESIGN.md): plan, quiesce P, create R (reversed, a copy of P) and
// F (v2 exec'd from a fork of P), run F to its first update point, forward transfer
// in F, backward transfer in R, diff P vs R, then commit (F serves, P and R end) or
// roll back (F and R killed, P resumes untouched). Every attempt yields a Report.
// TRUSTED.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>

#include "supervisor/report.h"

namespace ttst::supervisor {

struct Options {
  pid_t pid = 0;
  std::string new_path;
  std::string xfer;               // reserved: user transfer code (not supported yet)
  std::chrono::milliseconds timeout{5000};  // the whole transaction
  bool validate_only = false;     // run everything, then roll back
  bool forward_only = false;      // no backward run, no diff
  bool allow_different_program = false;  // skip the identity rule (identity.h)
  std::string pidfile;            // rewritten with F's pid on commit
  // Progress: called when a phase starts ("quiesce") and ends (ms >= 0).
  std::function<void(const std::string& phase, double ms)> progress;
};

struct Attempt {
  Report report;
  // 0 committed (or --validate-only passed), 1 rolled back, 2 refused before
  // touching P, 3 internal error of ttst itself (P intact).
  int exit_status = 3;
};

// Never throws: every failure becomes the report's outcome/reason/message/advice.
Attempt run_update(const Options& options);

// TEST-ONLY hook: when the environment variable TTST_SUPERVISE_TEST_FORWARD_TASK
// holds an agent task id (inject/agent/agent_abi.h), the forward run uses that
// task instead of the state-transfer engine (e.g. 2 = NULL dereference) so tests
// can force an agent crash. Never set it in production.
// TTST_SUPERVISE_TEST_BACKWARD_TASK does the same for the backward run (with 0, the
// empty task, on both sides the diff of an untouched R is measured by the bench).
inline constexpr const char* kTestForwardTaskEnv = "TTST_SUPERVISE_TEST_FORWARD_TASK";
inline constexpr const char* kTestBackwardTaskEnv = "TTST_SUPERVISE_TEST_BACKWARD_TASK";
// TEST ONLY: the supervisor SIGKILLs itself at this commit step (commit.past_pid,
// commit.unleashed, commit.past_doomed, commit.released), to test every window.
inline constexpr const char* kTestDieAtEnv = "TTST_SUPERVISE_TEST_DIE_AT";

}  // namespace ttst::supervisor
