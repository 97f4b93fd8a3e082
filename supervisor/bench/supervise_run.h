// supervise_run — one ttst-supervise run as update_bench sees it: started without
// --json so that its progress lines (one per phase, on stderr, as each phase ends)
// can be timestamped on the bench's clock as they arrive — that is how pre-copy's
// round (P serving between its two stops) is placed against the client's requests —
// and its report read back from the file it names. Also the machine's counters
// (/proc/vmstat, /proc/meminfo) around the run, for the variance of runs.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "supervisor/bench/bench_stats.h"

namespace ttst::bench {

struct SuperviseRun {
  double started_ms = 0;           // bench clock: just before the supervisor was started
  std::vector<PhaseEnd> ends;      // each progress line as it arrived
  nlohmann::json report;           // {} when none was written
  std::string last_line;           // the supervisor's own one-line verdict
};

// Runs `command` (a shell command line for ttst-supervise, without --json and
// without redirections) and waits for it.
SuperviseRun run_supervisor(const std::string& command);

// A file's whole text ("" when it cannot be read): /proc files and reports.
std::string slurp(const std::string& path);

// /proc/vmstat counters that say why a run was slow (page faults, compaction, THP,
// reclaim), as a snapshot; the difference of two is what a run cost.
std::map<std::string, long long> vmstat_now();
std::string vmstat_delta(const std::map<std::string, long long>& before, const std::map<std::string, long long>& after);
// MemFree and Cached from /proc/meminfo, MiB, as "free N MiB, cached N MiB".
std::string meminfo_now();
// The load average's three figures.
std::string loadavg();

}  // namespace ttst::bench
