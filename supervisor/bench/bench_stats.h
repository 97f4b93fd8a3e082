// bench_stats — the figures update_bench derives from what it records: medians and
// percentiles, a client's largest response gap and its latencies inside a time
// window, the supervisor's progress lines, pre-copy's round window, the roles of
// the processes it sampled. Pure functions, apart from the bench's I/O, so that
// bench_stats_test can check each one (the bench itself is not a test).
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ttst::bench {

double median(std::vector<double> v);
// Nearest-rank percentile (p in 0..100) of `v`; 0 for an empty vector.
double percentile(std::vector<double> v, double p);

// One request of a client: when it was sent and when its reply arrived, in ms on
// the bench's clock.
struct Request {
  double sent_ms = 0, replied_ms = 0;
};

// The largest gap a client saw between two replies; the first is measured from
// `start_ms` (when the client began), so a stall before the first reply counts.
double largest_gap_ms(const std::vector<Request>& requests, double start_ms);

// The latencies of the requests sent at or after `from_ms` and answered by `to_ms`
// (those a stop at either end delayed are left out).
std::vector<double> latencies_within(const std::vector<Request>& requests, double from_ms, double to_ms);

struct LatencySummary {
  size_t requests = 0;
  double p50 = 0, p99 = 0, max = 0;
};
LatencySummary summarize(const std::vector<double>& latencies_ms);

// One progress line of ttst-supervise (stderr without --json: "  forward   1234.5 ms")
// as {phase, ms}; nullopt for any other line.
std::optional<std::pair<std::string, double>> parse_progress(const std::string& line);

// A phase's end as the bench saw it: the progress line's arrival on its clock.
struct PhaseEnd {
  std::string name;
  double at_ms = 0;  // when the line arrived
  double ms = 0;     // the phase's own duration
};

// Pre-copy's round, when P served between its two stops: from the end of the
// "snapshot" phase (P released) to the end of the phase before the first "stop"
// (P seized again). nullopt when the run had no second stop.
std::optional<std::pair<double, double>> precopy_round(const std::vector<PhaseEnd>& ends);

// "Key:   1234 kB" in a /proc file's text, in KiB (0 when absent).
long proc_kib(const std::string& text, const std::string& key);

// The figures of /proc/PID/stat the bench uses (times in clock ticks).
struct ProcStat {
  unsigned long long minflt = 0, majflt = 0, utime = 0, stime = 0, start_time = 0;
};
// Parses /proc/PID/stat's text (the command, in parentheses, may hold spaces);
// all 0 when malformed.
ProcStat parse_stat(const std::string& text);

// A process the memory sampler saw besides P: when first seen (sample number, then
// its start time and pid to order those forked together) and whether it ever ran v2.
struct SeenProcess {
  long first_sample = 0;
  unsigned long long start_time = 0;  // /proc/PID/stat field 22
  long samples = 0;                   // in how many samples it was seen
  bool ran_v2 = false;
  ProcStat last;                      // at the last sample that saw it
};

// Names each process by its role: "P"; those that ran v2 "F", "F2" … in order of
// appearance; the v1 clones seen in at least two samples, in order of appearance,
// "S", "K" then "R", "R2" … under pre-copy (S and K are forked first, at the
// snapshot), else "R", "R2" …; a clone seen once (a fork's short-lived
// intermediate) "v1 clone".
std::map<pid_t, std::string> process_roles(pid_t p, const std::map<pid_t, SeenProcess>& seen, bool precopy);

}  // namespace ttst::bench
