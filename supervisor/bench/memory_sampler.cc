// memory_sampler — see memory_sampler.h.
#include "supervisor/bench/memory_sampler.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "supervisor/bench/supervise_run.h"

namespace ttst::bench {

// Traced by a ttst-supervise working on P ("--pid P" in its command line): other
// benches' servers on the same machine are traced too, by their own supervisors.
bool MemorySampler::traced_for_p(long tracer) {
  if (tracer <= 0) return false;
  const auto known = tracers_.find(tracer);
  if (known != tracers_.end()) return known->second;
  const std::string cmdline = slurp("/proc/" + std::to_string(tracer) + "/cmdline");
  const std::string pid_arg = std::string("\0--pid\0", 7) + std::to_string(p_) + std::string(1, '\0');
  const bool ours = cmdline.find("ttst-supervise") != std::string::npos && cmdline.find(pid_arg) != std::string::npos;
  if (!cmdline.empty()) tracers_[tracer] = ours;  // a pid is not reused while it traces
  return ours;
}

MemorySampler::MemorySampler(pid_t p, int interval_ms) : p_(p), interval_ms_(interval_ms) {
  if (interval_ms_ > 0) thread_ = std::thread([this] { loop(); });
}

void MemorySampler::stop() {
  done_ = true;
  if (thread_.joinable()) thread_.join();
}

// Every interval_ms at most; sooner when a sample is cheap. smaps_rollup walks the
// page tables, so a sample's cost grows with the processes' memory (~15 ms for
// 800 MiB here): pausing ten times the last sample's cost keeps the sampler under
// a tenth of a CPU, and a short update of a small P (tens of ms) is still sampled
// several times instead of once, before F existed.
void MemorySampler::loop() {
  using Clock = std::chrono::steady_clock;
  const auto longest = std::chrono::milliseconds(interval_ms_);
  const auto shortest = std::min<Clock::duration>(std::chrono::milliseconds(2), longest);
  while (!done_) {
    const Clock::time_point t0 = Clock::now();
    sample_once();
    std::this_thread::sleep_for(std::clamp<Clock::duration>(10 * (Clock::now() - t0), shortest, longest));
  }
}

void MemorySampler::sample_once() {
  std::map<pid_t, ProcessMemory> now;
  long rss = 0, pss = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::atoi(name.c_str());
    const std::string status = slurp(e.path().string() + "/status");
    const bool v2 = status.rfind("Name:\tbankserver_v2", 0) == 0;
    if (pid != p_ && !((v2 || status.rfind("Name:\tbankserver_v1", 0) == 0) && traced_for_p(proc_kib(status, "TracerPid:"))))
      continue;
    const std::string rollup = slurp(e.path().string() + "/smaps_rollup");
    ProcessMemory m;
    m.rss = proc_kib(rollup, "Rss:");
    m.pss = proc_kib(rollup, "Pss:");
    m.private_kib = proc_kib(rollup, "Private_Clean:") + proc_kib(rollup, "Private_Dirty:");
    m.anon_huge = proc_kib(rollup, "AnonHugePages:");
    m.swap = proc_kib(rollup, "Swap:");
    now[pid] = m;
    rss += m.rss;
    pss += m.pss;
    const ProcStat stat = parse_stat(slurp(e.path().string() + "/stat"));
    SeenProcess& s = seen_.try_emplace(pid, SeenProcess{samples_, stat.start_time, 0, false, {}}).first->second;
    ++s.samples;
    if (stat.start_time == s.start_time) s.last = stat;
    s.ran_v2 |= v2;
  }
  ++samples_;
  peak_rss_ = std::max(peak_rss_.load(), rss);
  if (pss > peak_pss_) {
    peak_pss_ = pss;
    at_peak_ = now;
  }
}

}  // namespace ttst::bench
