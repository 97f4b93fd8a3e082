// bench_run — one measured run of update_bench and a size's runs: ttst-supervise
// (TTST, --forward-only or --precopy; --validate-only, or committed with --commit)
// against bankserver while a client sends requests (traffic_client.h) and the
// memory sampler watches P and its update's processes (memory_sampler.h); the
// figures are gathered into a Sample.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "supervisor/bench/bench_stats.h"
#include "supervisor/bench/memory_sampler.h"
#include "supervisor/bench/traffic_client.h"

namespace ttst::bench {

enum class Mode { kTtst, kForwardOnly, kPrecopy };
const char* mode_name(Mode m);

struct Options {
  std::vector<long> sizes{10000, 100000, 1000000};
  int runs = 5;
  std::string png = "/tmp/update_bench.png";
  bool precopy = false, idle = false, commit = false, verbose = false;
  Traffic traffic = Traffic::kRead;
  int sample_ms = 100;
  // A pause before each run: a real update comes long after anything else freed
  // memory, and on a VM the guest hands freed memory back to the hypervisor within
  // seconds, so the update's new memory costs what it costs cold (supervisor/README
  // "Session 16"). 0: runs back to back (memory the last run freed still warm).
  int pause_ms = 0;
};

struct Sample {
  int run = 0;
  Mode mode = Mode::kTtst;
  double total = 0, client_stall = 0, stall = 0;
  std::string verdict;  // --precopy: the report's precopy verdict
  std::string verdict_detail;  // and its detail (what changed; why stage 2 fell back)
  std::string outcome;  // committed, rolled_back
  std::map<std::string, double> phases;  // the supervisor's phases (summed); "forward.copy" etc.: the agents'
  std::vector<std::pair<std::string, double>> phase_list;  // the supervisor's phases in order
  long peak_rss = 0, peak_pss = 0;
  std::map<std::string, ProcessMemory> peak_by_role;  // at the sampled peak of the PSS sum
  std::map<std::string, ProcStat> stat_by_role;       // each process's CPU and faults at its last sample
  std::string reason;
  // --precopy with a client: P's latencies during the round, and idle (the same
  // client, no update, as long as the round) right after.
  double round_ms = 0;
  LatencySummary round, idle_p;
  long requests = 0, bad_replies = 0;
  std::string load, memory_before, vmstat;  // at the start; the run's /proc/vmstat delta
  pid_t new_pid = 0;
};

// One run against P (pid, port).
Sample run_once(pid_t pid, int port, long accounts, Mode mode, const Options& o);

struct SizeResult {
  long accounts = 0;
  long p_rss_kib = 0;
  std::string load_before, load_after;
  std::vector<Sample> ttst, forward_only, precopy;
};

// Every run of one size: the modes rotated round by round; P started once, or
// for each run with --commit.
SizeResult measure(long accounts, const Options& o);

}  // namespace ttst::bench
