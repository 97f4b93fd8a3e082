// time_limit — the time limit of an update: `--timeout` (a hard wall bound the user
// sets), or by default bounds derived from the size of the running program's state
// and counted in what the kernel says the processes consumed (issue 15, "no timeout
// by size").
//
// A wall-time default rolled back healthy updates on a busy machine: memcached 1.6
// with 100,000 keys took 10-18 s of wall time per direction at a load average of 20
// on two cores, for 2.2-2.9 s of the agent's CPU. The bound must still catch a hang,
// and never come from the agent's reports of its progress (a looping agent could
// report forever). So, without --timeout, three bounds, fixed before the update from
// P's anonymous memory (resident plus swapped: what the transfers copy, read from
// /proc/PID/smaps_rollup), each checked against the kernel's figures:
//   CPU budget    the CPU F and R consumed (utime + stime of /proc/PID/stat, every
//                 thread, or the live threads' schedstat run time when more: ticks
//                 are 10 ms; from their creation: v2's start-up, the forward
//                 transfer, the backward one): catches a looping agent or start-up whatever
//                 the load. 5 s + 200 ms per MiB — the wall-time default of session
//                 8, now counted in CPU: bankserver's 1 M accounts used ~4 s for 331
//                 MiB on a quiet machine, 6.3 s at load 20 (budget 71 s); memcached
//                 1.6 with 100,000 keys 5-6 s for 74 MiB (budget 19.8 s).
//   wall ceiling  the wall time minus the time the update's processes spent
//                 runnable but waiting for a CPU (run_delay of /proc/PID/task/TID/
//                 schedstat, summed over P's, F's, R's and this process's threads):
//                 the time they ran or were blocked, which the load does not
//                 stretch. Twice the CPU budget: catches an agent blocked in a
//                 system call (consuming no CPU) or a process that never returns.
//                 Not judged while a thread of F or R is runnable: the kernel
//                 adds a wait for a CPU to run_delay only once it ends (a starved
//                 thread may wait seconds); a runner is the CPU budget's.
//   wall cap      plain wall time, 10x the CPU budget, however long they waited for a
//                 CPU: a backstop (a process that lowered its own priority waits
//                 forever without consuming CPU).
// An agent cannot fake these: the kernel keeps them. The other bounds of a
// transaction (ptrace steps, start-up, the stop protocol) are what is left of the
// ceiling when they start. TRUSTED.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ttst::supervisor {

using std::chrono::milliseconds;

// The bounds of one update, fixed before it starts.
struct TimeLimits {
  milliseconds wall{5000};  // --timeout (the only bound then); default: the wall ceiling
  milliseconds cpu{0};      // default only: F's and R's CPU budget; 0 when --timeout was given
  milliseconds cap{0};      // default only: the wall cap
  uint64_t state_bytes = 0;  // default only: P's state the bounds were derived from
  bool hard() const { return cpu.count() == 0; }
};

// The default bounds for a program whose state holds `state_bytes` (above); each at
// most 1 h (the cap 10 h).
TimeLimits default_time_limits(uint64_t state_bytes);
// --timeout T: T of wall time, nothing else.
TimeLimits hard_time_limit(milliseconds timeout);

// "Anonymous:" + "Swap:" of an smaps_rollup text, in bytes; nullopt when neither is there.
std::optional<uint64_t> state_bytes_of_rollup(const std::string& smaps_rollup);
// The same for a running process; nullopt when its smaps_rollup cannot be read
// (no such process, no permission): the caller then uses the bounds for 0 bytes.
std::optional<uint64_t> state_bytes_of(pid_t pid);

// From the text of /proc/PID/stat: utime + stime in clock ticks and the start time
// (which tells a reused pid apart); nullopt when malformed.
struct StatTimes {
  uint64_t cpu_ticks = 0, start_time = 0;
};
std::optional<StatTimes> times_of_stat(const std::string& stat);
// A thread's /proc/.../schedstat text: the time it ran and its run delay (runnable,
// waiting for a CPU), in ns.
struct SchedTimes {
  uint64_t run_ns = 0, delay_ns = 0;
  // What ran and waited since `before` of the same threads (a thread that ended
  // meanwhile takes its figures out of a sum: never below zero).
  SchedTimes since(const SchedTimes& before) const {
    return {run_ns - std::min(run_ns, before.run_ns), delay_ns - std::min(delay_ns, before.delay_ns)};
  }
};
std::optional<SchedTimes> times_of_schedstat(const std::string& schedstat);
// The live threads of process `pid` now: their run time and run delay summed, and
// whether one is runnable (state R: running, or waiting for a CPU — a wait the
// kernel adds to run_delay only once it ends). Zero when the process is gone.
struct ProcessSched {
  SchedTimes sum;
  bool runnable = false;
};
ProcessSched process_sched(pid_t pid);

// What an update spent so far.
struct Spent {
  milliseconds wall{0}, cpu{0}, cpu_wait{0};  // cpu: F's and R's; cpu_wait: all watched threads'
  // A thread of F or R runnable now (state R): running, or waiting for a CPU — a wait
  // the kernel adds to run_delay only once it ends, so the ceiling is not judged then.
  bool agent_runnable = false;
};

enum class Bound { kNone, kTimeout, kCpuBudget, kWallCeiling, kWallCap };
// The bound `spent` ran out of, kNone while within every bound.
Bound bound_hit(const TimeLimits& l, const Spent& s);
// The wall time left before the first wall bound (0 when out).
milliseconds wall_left(const TimeLimits& l, const Spent& s);
// One phrase, with the figures: "the CPU budget ran out: the new version and the
// copy of the old one used 5.2 s of CPU (the kernel's count), the budget is 5.0 s
// (from the program's 0 MiB of state)".
std::string describe(Bound b, const TimeLimits& l, const Spent& s);

// The limit of one running update: started at construction; processes watched as
// they are created.
class TimeLimit {
 public:
  explicit TimeLimit(const TimeLimits& limits);
  // F and R: their CPU counts against the budget; their waits for a CPU are credited.
  void watch_agent(pid_t pid) { watch(pid, true); }
  // P: its waits for a CPU from now on are credited (it is driven, forked from).
  void watch_waits(pid_t pid) { watch(pid, false); }
  // Read from the kernel now (a process gone keeps its last figures).
  Spent spent();
  milliseconds left() { return wall_left(limits_, spent()); }
  // What is left of the cap (of --timeout when hard): a bound for waits the
  // caller cannot check as they go (v2's start-up), nothing read.
  milliseconds cap_left() const;
  // The bound hit, and its description with the figures of when it was hit;
  // kNone and "" while within. Once hit it stays so: the ceiling discounts the
  // waits for a CPU, summed over the processes watched, which can grow faster than
  // the wall time — read again a moment later (the agent stopped as hung by this
  // very answer), it would say "within".
  std::pair<Bound, std::string> exceeded();
  const TimeLimits& limits() const { return limits_; }

 private:
  struct Watched {
    pid_t pid = 0;  // 0: this process
    bool agent = false;
    uint64_t start_time = 0;
    uint64_t cpu_ns = 0, delay_ns = 0, delay_base_ns = 0;
    bool runnable = false;
  };
  void watch(pid_t pid, bool agent);
  void sample(Watched& w) const;
  TimeLimits limits_;
  std::chrono::steady_clock::time_point start_;
  std::vector<Watched> watched_;
  std::pair<Bound, std::string> hit_{Bound::kNone, ""};  // the first bound exceeded() found
};

}  // namespace ttst::supervisor
