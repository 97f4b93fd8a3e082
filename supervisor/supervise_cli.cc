// supervise_cli.cc — see supervise_cli.h. The command line of ttst-supervise:
//
//   ttst-supervise --pid N --new PATH [--xfer PLUGIN] [--timeout T] [--report-dir DIR]
//                  [--validate-only] [--forward-only] [--allow-different-program]
//                  [--pidfile FILE] [--grace 1s] [--debug-dir DIR] [--json] [-v]
//
// Exit status: 0 committed (or --validate-only passed), 1 rolled back, 2 refused
// before touching the program (an unwritable report directory included: checked
// first), 3 internal error (the program is intact).
// stderr: progress per phase (unless --json), then one line saying what happened and
// what to do. stdout: nothing, or the report as JSON with --json.
#include <sys/prctl.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <regex>

#include "supervisor/report.h"
#include "supervisor/supervise_cli.h"
#include "supervisor/test_hooks.h"
#include "supervisor/time_limit.h"
#include "supervisor/transaction.h"

namespace {

// "5s", "250ms", "1.5s", "2m", or a bare number of seconds; 0 only when `zero_ok`.
std::chrono::milliseconds parse_duration(const std::string& s, const char* option = "--timeout", bool zero_ok = false) {
  static const std::regex re(R"(^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)?\s*$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) throw CLI::ValidationError(option, "expected a duration like 5s or 500ms");
  double v = std::stod(m[1]);
  std::string unit = m[2];
  double ms = unit == "ms" ? v : unit == "m" ? v * 60000 : v * 1000;
  if (ms == 0 && zero_ok) return std::chrono::milliseconds(0);
  if (ms < 1) throw CLI::ValidationError(option, zero_ok ? "must be 0 or at least 1ms" : "must be at least 1ms");
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

}  // namespace

int ttst::supervisor::supervise_main(int argc, char** argv, const TestHooks* test_hooks) {
  namespace sv = ttst::supervisor;
  CLI::App app{"ttst-supervise: live-update a running program, validated by time-traveling state transfer"};
  sv::Options o;
  std::string timeout = "5s", grace = "1s", report_dir;
  bool json = false, verbose = false;
  int pid = 0;
  app.add_option("--pid", pid, "the running program (built with ttst-cc)")->required();
  app.add_option("--new", o.new_path, "the new version's executable")->required();
  app.add_option("--xfer", o.xfer, "user transfer plugin (ttst-cc --xfer-plugin; stfw/xfer/PLUGINS.md), run in F and R");
  CLI::Option* timeout_given = app.add_option(
      "--timeout", timeout,
      "hard wall-time limit for the whole update (default: a CPU budget of 5s + 200ms per MiB of the program's "
      "memory, counted by the kernel, and wall bounds that do not count waiting for a CPU: time_limit.h)");
  app.add_option("--report-dir", report_dir, "where to write the post-mortem report");
  app.add_flag("--validate-only", o.validate_only, "run the whole validation, then roll back");
  app.add_flag("--forward-only", o.forward_only, "transfer forward only: no backward run, no diff");
  app.add_flag("--precopy", o.precopy,
               "transfer and validate from a snapshot while the program serves; commit at a second stop if "
               "nothing changed, else transfer again in the stop");
  app.add_flag("--allow-different-program", o.allow_different_program,
               "accept a new version that shares little with the running program (see README)");
  app.add_option("--pidfile", o.pidfile, "pid file to rewrite with the new pid on commit");
  app.add_option("--grace", grace,
                 "after the commit, keep the old version stopped while the new one serves this long; a crash or "
                 "hang of the new one meanwhile resumes the old one (default 1s; 0: end the old one at once)");
  std::vector<std::string> debug_dirs;
  app.add_option("--debug-dir", debug_dirs,
                 "root of separate debug info for stripped executables, as gdb's debug-file-directory (default "
                 "/usr/lib/debug; repeat for several)");
  app.add_flag("--json", json, "print the report as JSON on stdout");
  app.add_flag("-v,--verbose", verbose, "debug logging");
  try {
    app.parse(argc, argv);
    // No --timeout: a bound from P's size as measured here, never from the agent (time_limit.h).
    o.limits = timeout_given->count() ? sv::hard_time_limit(parse_duration(timeout))
                                      : sv::default_time_limits(sv::state_bytes_of(pid).value_or(0));
    if (test_hooks && test_hooks->limits && !timeout_given->count()) o.limits = *test_hooks->limits;  // TEST ONLY
    // --precopy may transfer twice (the round, then in the stop when P changed):
    // the derived bounds are doubled, so that a healthy large update is not rolled back.
    if (o.precopy && !timeout_given->count()) o.limits.cpu *= 2, o.limits.wall *= 2, o.limits.cap *= 2;
    o.grace = parse_duration(grace, "--grace", true);
    if (!debug_dirs.empty()) o.debug_dirs = debug_dirs;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "ttst-supervise: %s (see --help)\n", e.what());
    return 2;
  }
  o.pid = pid;
  o.test_hooks = test_hooks;
  // The supervisor waits for ptrace stops by polling (waitpid WNOHANG between
  // sleeps of 2 us growing to 200 us: inject/task.cc, future_threads.cc), and the
  // kernel's default timer slack of 50 us stretched every short sleep to it: each
  // system call of v2's start-up, run under PTRACE_SYSCALL inside P's stop, waited
  // that long to be seen twice (memcached 1.6's ~670 stops: start-up 111-186 -> 74-111
  // ms). 1 us for this process only: F and R are forked inside P and keep P's.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  spdlog::set_default_logger(spdlog::stderr_logger_mt("ttst-supervise"));  // stdout is for --json
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);
  spdlog::set_pattern("ttst-supervise: %v");
  if (!json)
    o.progress = [](const std::string& phase, double ms) {
      if (ms >= 0) std::fprintf(stderr, "  %-9s %8.1f ms\n", phase.c_str(), ms);
    };

  // Every attempt leaves a report: a directory that cannot take one is found
  // before the program is touched, not after an update committed without it.
  const auto dir = report_dir.empty() ? sv::default_report_dir() : std::filesystem::path(report_dir);
  try {
    sv::check_report_dir(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "ttst-supervise: refused: cannot write the report (%s); pid %d was not touched. Choose a "
                 "writable --report-dir (or XDG_STATE_HOME).\n",
                 e.what(), pid);
    return 2;
  }
  sv::Attempt a = sv::run_update(o);
  a.report.time_limit_ms = static_cast<double>(o.limits.wall.count());
  std::string where;
  try {
    where = sv::write_report(a.report, dir).string();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ttst-supervise: could not write the report: %s\n", e.what());
  }
  if (json) std::cout << sv::to_json(a.report).dump(2) << std::endl;
  // A --validate-only run that passed is "validated" on this line (its report keeps
  // outcome rolled_back, reason validate_only: supervisor/REPORT.md).
  const bool validated = a.report.reason == sv::Reason::kValidateOnly;
  std::fprintf(stderr, "ttst-supervise: %s: %s. %s.%s\n", validated ? "validated" : sv::to_string(a.report.outcome),
               a.report.message.c_str(), a.report.advice.c_str(),
               where.empty() ? "" : (" Report: " + where).c_str());
  return a.exit_status;
}
