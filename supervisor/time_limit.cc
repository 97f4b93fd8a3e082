// time_limit.cc — see time_limit.h.
#include "supervisor/time_limit.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "supervisor/proc_stat.h"

namespace ttst::supervisor {
namespace {

constexpr uint64_t kBaseMs = 5000, kCpuMsPerMiB = 200, kMaxMs = 3600 * 1000;
constexpr uint64_t kCeilingTimesCpu = 2, kCapTimesCpu = 10;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  if (in) text << in.rdbuf();
  return text.str();
}

std::string seconds(milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", ms.count() / 1000.0);
  return buf;
}

}  // namespace

TimeLimits default_time_limits(uint64_t state_bytes) {
  const uint64_t mib = state_bytes >> 20;
  const uint64_t cpu = mib > (kMaxMs - kBaseMs) / kCpuMsPerMiB ? kMaxMs : kBaseMs + mib * kCpuMsPerMiB;
  TimeLimits l;
  l.cpu = milliseconds(static_cast<long long>(cpu));
  l.wall = l.cpu * kCeilingTimesCpu;
  l.cap = l.cpu * kCapTimesCpu;
  l.state_bytes = state_bytes;
  return l;
}

TimeLimits hard_time_limit(milliseconds timeout) {
  TimeLimits l;
  l.wall = l.cap = timeout;
  return l;
}

std::optional<uint64_t> state_bytes_of_rollup(const std::string& smaps_rollup) {
  std::istringstream in(smaps_rollup);
  std::string line;
  uint64_t kib = 0;
  bool found = false;
  while (std::getline(in, line)) {
    for (const char* key : {"Anonymous:", "Swap:"}) {
      const std::string k = key;
      if (line.compare(0, k.size(), k) != 0) continue;
      std::istringstream value(line.substr(k.size()));
      uint64_t v = 0;
      if (value >> v) {
        kib += v;
        found = true;
      }
    }
  }
  if (!found) return std::nullopt;
  return kib * 1024;
}

std::optional<uint64_t> state_bytes_of(pid_t pid) {
  const std::string text = read_text("/proc/" + std::to_string(pid) + "/smaps_rollup");
  if (text.empty()) return std::nullopt;
  return state_bytes_of_rollup(text);
}

// Fields after the command's closing parenthesis (which may itself hold spaces and
// parentheses): state is field 3, utime 14, stime 15, starttime 22 (proc(5)).
std::optional<StatTimes> times_of_stat(const std::string& stat) {
  const std::vector<std::string> f = stat_fields(stat);
  if (f.size() < 20) return std::nullopt;
  try {
    return StatTimes{std::stoull(f[14 - 3]) + std::stoull(f[15 - 3]), std::stoull(f[22 - 3])};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<SchedTimes> times_of_schedstat(const std::string& schedstat) {
  std::istringstream in(schedstat);
  SchedTimes t;
  if (!(in >> t.run_ns >> t.delay_ns)) return std::nullopt;
  return t;
}

Bound bound_hit(const TimeLimits& l, const Spent& s) {
  if (l.hard()) return s.wall >= l.wall ? Bound::kTimeout : Bound::kNone;
  if (s.cpu >= l.cpu) return Bound::kCpuBudget;
  if (s.wall >= l.cap) return Bound::kWallCap;
  if (!s.agent_runnable && s.wall - std::min(s.cpu_wait, s.wall) >= l.wall) return Bound::kWallCeiling;
  return Bound::kNone;
}

milliseconds wall_left(const TimeLimits& l, const Spent& s) {
  const milliseconds until = l.hard() ? l.wall : std::min(l.wall + s.cpu_wait, l.cap);
  return std::max(until - s.wall, milliseconds(0));
}

std::string describe(Bound b, const TimeLimits& l, const Spent& s) {
  const std::string mib = std::to_string(l.state_bytes >> 20) + " MiB of state";
  switch (b) {
    case Bound::kNone: return "";
    case Bound::kTimeout: return "--timeout " + seconds(l.wall) + " ran out after " + seconds(s.wall);
    case Bound::kCpuBudget:
      return "the CPU budget ran out: the new version and the copy of the old one used " + seconds(s.cpu) +
             " of CPU (the kernel's count), the budget is " + seconds(l.cpu) +
             " (from the program's " + mib + ")";
    case Bound::kWallCeiling:
      return "the wall ceiling ran out: " + seconds(s.wall) + " of wall time, of which " + seconds(s.cpu_wait) +
             " waiting for a CPU (not counted), " + seconds(s.cpu) + " of CPU; the ceiling is " + seconds(l.wall) +
             " (2x the CPU budget, from the program's " + mib + ")";
    case Bound::kWallCap:
      return "the wall cap ran out: " + seconds(s.wall) + " of wall time (" + seconds(s.cpu_wait) +
             " of it waiting for a CPU, " + seconds(s.cpu) + " of CPU); the cap is " + seconds(l.cap) +
             " (10x the CPU budget, from the program's " + mib + ")";
  }
  return "";
}

TimeLimit::TimeLimit(const TimeLimits& limits) : limits_(limits), start_(std::chrono::steady_clock::now()) {
  if (!limits_.hard()) watch(getpid(), false);  // the supervisor's own waits (the diff runs here)
}

milliseconds TimeLimit::cap_left() const {
  const auto wall = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start_);
  return std::max(limits_.cap - wall, milliseconds(0));
}

void TimeLimit::watch(pid_t pid, bool agent) {
  if (limits_.hard()) return;  // --timeout: wall time only, nothing read
  for (const Watched& w : watched_)
    if (w.pid == pid) return;  // P seized again (pre-copy): counted once
  Watched w;
  w.pid = pid;
  w.agent = agent;
  const auto t = times_of_stat(read_text("/proc/" + std::to_string(pid) + "/stat"));
  if (!t) return;
  w.start_time = t->start_time;
  sample(w);
  w.delay_base_ns = w.delay_ns;  // credited from now on; an agent's CPU counts from its creation
  watched_.push_back(w);
}

ProcessSched process_sched(pid_t pid) {
  ProcessSched r;
  const std::string proc = "/proc/" + std::to_string(pid);
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(proc + "/task", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (const auto s = times_of_schedstat(read_text(it->path().string() + "/schedstat"))) {
      r.sum.run_ns += s->run_ns;
      r.sum.delay_ns += s->delay_ns;
    }
    const std::string stat = read_text(it->path().string() + "/stat");
    const size_t close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'R') r.runnable = true;
  }
  return r;
}

// One process's figures now: CPU of every thread (alive or ended) from its stat in
// ticks, or its live threads' run time in ns when more; their run delay. Gone or a
// reused pid: the last figures stay.
void TimeLimit::sample(Watched& w) const {
  static const uint64_t ticks_per_s = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
  const std::string proc = "/proc/" + std::to_string(w.pid);
  const auto t = times_of_stat(read_text(proc + "/stat"));
  if (!t || (w.start_time && t->start_time != w.start_time)) return;
  const ProcessSched now = process_sched(w.pid);
  const SchedTimes& live = now.sum;
  w.runnable = now.runnable;
  // Never taken back: an ended thread's figures leave the live sums.
  w.cpu_ns = std::max({w.cpu_ns, t->cpu_ticks * 1000000000 / ticks_per_s, live.run_ns});
  w.delay_ns = std::max(w.delay_ns, live.delay_ns);
}

Spent TimeLimit::spent() {
  Spent s;
  s.wall = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start_);
  uint64_t cpu_ns = 0, delay_ns = 0;
  for (Watched& w : watched_) {
    sample(w);
    if (w.agent) cpu_ns += w.cpu_ns;
    if (w.agent) s.agent_runnable = s.agent_runnable || w.runnable;
    delay_ns += w.delay_ns - w.delay_base_ns;
  }
  s.cpu = milliseconds(static_cast<long long>(cpu_ns / 1000000));
  s.cpu_wait = milliseconds(static_cast<long long>(delay_ns / 1000000));
  return s;
}

std::pair<Bound, std::string> TimeLimit::exceeded() {
  if (hit_.first != Bound::kNone) return hit_;
  const Spent s = spent();
  const Bound b = bound_hit(limits_, s);
  if (b != Bound::kNone) hit_ = {b, describe(b, limits_, s)};
  return {b, describe(b, limits_, s)};
}

}  // namespace ttst::supervisor
