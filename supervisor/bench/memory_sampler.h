// memory_sampler — P's and its update's processes' memory while an update runs:
// every interval at most (sooner while a sample costs little: small processes) it reads smaps_rollup of P and of each bankserver process traced
// by the ttst-supervise working on P (F, R, and S, K under pre-copy: the supervisor
// forks them through a reaped intermediate, so they are found by name and tracer;
// other benches' servers on the machine are left out), sums their PSS and keeps
// the sample where that sum peaked, process by process, so the peak can be
// attributed (bench_stats.h process_roles names them).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <thread>

#include "supervisor/bench/bench_stats.h"

namespace ttst::bench {

// One process in one sample (KiB).
struct ProcessMemory {
  long rss = 0, pss = 0;
  long private_kib = 0;     // Private_Clean + Private_Dirty: pages no other process maps
  long anon_huge = 0;       // AnonHugePages (THP)
  long swap = 0;
};

class MemorySampler {
 public:
  // interval_ms: the longest pause between samples; 0: no sampling (the figures stay 0).
  MemorySampler(pid_t p, int interval_ms);
  ~MemorySampler() { stop(); }
  void stop();
  long peak_rss_kib() const { return peak_rss_; }
  long peak_pss_kib() const { return peak_pss_; }
  // Valid after stop(): the processes at the peak of the PSS sum, and every process seen.
  const std::map<pid_t, ProcessMemory>& at_peak() const { return at_peak_; }
  const std::map<pid_t, SeenProcess>& seen() const { return seen_; }
  long samples() const { return samples_; }

 private:
  void loop();
  void sample_once();
  bool traced_for_p(long tracer);

  pid_t p_;
  int interval_ms_;
  std::atomic<bool> done_{false};
  std::atomic<long> peak_rss_{0}, peak_pss_{0};
  long samples_ = 0;
  std::map<pid_t, ProcessMemory> at_peak_;
  std::map<pid_t, SeenProcess> seen_;
  std::map<long, bool> tracers_;  // tracer pid -> a ttst-supervise working on P
  std::thread thread_;
};

}  // namespace ttst::bench
