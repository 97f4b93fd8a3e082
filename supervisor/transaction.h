// transaction.h — one live update of a running program P to a new version, the
// TTST way (shared/DESIGN.md): plan, quiesce P, create F (v2 exec'd from a fork of
// P), run F to its first update point, forward transfer in F, create R (reversed, a
// copy of P) and run the backward transfer in it, diff P vs R, then commit (F
// serves, P and R end) or roll back (F and R killed, P resumes untouched). Every
// attempt yields a Report. TRUSTED.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "supervisor/report.h"
#include "supervisor/time_limit.h"

namespace ttst::supervisor {

struct TestHooks;  // test_hooks.h

struct Options {
  pid_t pid = 0;
  std::string new_path;
  std::string xfer;               // user transfer plugin (ttst-cc --xfer-plugin), run by the agent in F and R
  // The time limit (time_limit.h): --timeout, a hard wall bound on the whole
  // transaction, or the defaults from P's size (a CPU budget, a wall ceiling, a cap).
  TimeLimits limits;
  bool validate_only = false;     // run everything, then roll back
  bool forward_only = false;      // no backward run, no diff
  // Pre-copy (README "Pre-copy"): the transfers and the validation run on a
  // snapshot while P serves; P is stopped again and committed from the snapshot
  // when nothing of its state changed meanwhile, else the transfer runs in the stop.
  bool precopy = false;
  bool allow_different_program = false;  // skip the identity rule (identity.h)
  std::string pidfile;            // rewritten with F's pid on commit
  // After the commit, F serves this long while P is kept stopped; F crashing or
  // hanging meanwhile resumes P (grace_period.h). 0: P ended at the commit.
  std::chrono::milliseconds grace{1000};
  // Roots of separate debug info for stripped executables (--debug-dir).
  std::vector<std::string> debug_dirs = {"/usr/lib/debug"};
  // Progress: called when a phase starts ("quiesce") and ends (ms >= 0).
  std::function<void(const std::string& phase, double ms)> progress;
  // Set only by the test variant of ttst-supervise (test_hooks.h); the shipped one
  // has no argument or variable that reaches it.
  const TestHooks* test_hooks = nullptr;
};

struct Attempt {
  Report report;
  // 0 committed (or --validate-only passed), 1 rolled back, 2 refused before
  // touching P, 3 internal error of ttst itself (reason "internal"; P intact).
  int exit_status = 3;
};

// Never throws: every failure becomes the report's outcome/reason/message/advice.
Attempt run_update(const Options& options);

}  // namespace ttst::supervisor
