// time_limit_test — the time limit's bounds (time_limit.h): derived from P's state,
// never from anything the agent says; which bound a spending hits (the CPU budget
// whatever the wall time, the wall ceiling not counting the waits for a CPU, the
// cap counting them); --timeout a plain wall bound; the kernel's figures parsed from
// /proc text and read from live processes (a child burning CPU, this process).
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "supervisor/time_limit.h"

using std::chrono::milliseconds;
using namespace ttst::supervisor;

TEST_CASE("the default bounds: a CPU budget from P's size, the wall ceiling 2x, the cap 10x, bounded") {
  // 5 s + 200 ms per MiB of CPU: session 8's wall-time default, counted in CPU.
  const TimeLimits small = default_time_limits(0);
  CHECK(!small.hard());
  CHECK(small.cpu == milliseconds(5000));
  CHECK(small.wall == milliseconds(10000));
  CHECK(small.cap == milliseconds(50000));
  CHECK(default_time_limits(4 << 20).cpu == milliseconds(5800));
  // bankserver's 1 M accounts (331 MiB): ~4 s of the agents' CPU quiet, 6.3 s at load 20.
  CHECK(default_time_limits(331ull << 20).cpu >= milliseconds(10 * 6300));
  // memcached 1.6 with 100,000 keys (74 MiB): up to 6.1 s of CPU both ways at load 7-20.
  CHECK(default_time_limits(74ull << 20).cpu >= milliseconds(3 * 6100));
  CHECK(default_time_limits(1ull << 40).cpu == milliseconds(3600 * 1000));
  CHECK(default_time_limits(~0ull).cpu == milliseconds(3600 * 1000));
  CHECK(default_time_limits(~0ull).cap == milliseconds(36000 * 1000));
}

TEST_CASE("--timeout: one wall bound, the waits for a CPU count") {
  const TimeLimits l = hard_time_limit(milliseconds(3000));
  CHECK(l.hard());
  CHECK(bound_hit(l, Spent{milliseconds(2999), milliseconds(0), milliseconds(2900)}) == Bound::kNone);
  CHECK(bound_hit(l, Spent{milliseconds(3000), milliseconds(0), milliseconds(2900)}) == Bound::kTimeout);
  CHECK(wall_left(l, Spent{milliseconds(1000), milliseconds(0), milliseconds(900)}) == milliseconds(2000));
  CHECK(describe(Bound::kTimeout, l, Spent{milliseconds(3100), {}, {}}).find("--timeout 3.0 s") != std::string::npos);
}

TEST_CASE("the default bounds: which one a spending hits") {
  TimeLimits l;
  l.cpu = milliseconds(1000), l.wall = milliseconds(2000), l.cap = milliseconds(10000);
  l.state_bytes = 3 << 20;
  auto hit = [&](long wall, long cpu, long wait) {
    return bound_hit(l, Spent{milliseconds(wall), milliseconds(cpu), milliseconds(wait)});
  };
  CHECK(hit(500, 100, 0) == Bound::kNone);
  CHECK(hit(600, 1000, 0) == Bound::kCpuBudget);  // a loop: the CPU, however short the wall
  CHECK(hit(2000, 100, 0) == Bound::kWallCeiling);  // blocked: no CPU, no wait
  CHECK(hit(9000, 900, 7500) == Bound::kNone);  // a busy machine: the waits are not counted
  CHECK(hit(9000, 900, 6900) == Bound::kWallCeiling);
  CHECK(hit(10000, 900, 9900) == Bound::kWallCap);  // however long it waited
  CHECK(hit(500, 100, 900) == Bound::kNone);  // waits over the wall (threads in parallel) credit no more
  // An agent runnable now may be in a wait not yet in run_delay: the ceiling waits.
  CHECK(bound_hit(l, Spent{milliseconds(5000), milliseconds(100), milliseconds(0), true}) == Bound::kNone);
  CHECK(bound_hit(l, Spent{milliseconds(5000), milliseconds(1000), milliseconds(0), true}) == Bound::kCpuBudget);
  CHECK(bound_hit(l, Spent{milliseconds(10000), milliseconds(100), milliseconds(0), true}) == Bound::kWallCap);
  CHECK(wall_left(l, Spent{milliseconds(1500), {}, milliseconds(0)}) == milliseconds(500));
  CHECK(wall_left(l, Spent{milliseconds(1500), {}, milliseconds(3000)}) == milliseconds(3500));
  CHECK(wall_left(l, Spent{milliseconds(9000), {}, milliseconds(30000)}) == milliseconds(1000));  // the cap
  CHECK(wall_left(l, Spent{milliseconds(12000), {}, milliseconds(30000)}) == milliseconds(0));
  const std::string cpu = describe(Bound::kCpuBudget, l, Spent{milliseconds(700), milliseconds(1200), {}});
  CHECK_MESSAGE(cpu.find("the CPU budget ran out") != std::string::npos, cpu);
  CHECK_MESSAGE(cpu.find("1.2 s of CPU") != std::string::npos, cpu);
  CHECK_MESSAGE(cpu.find("the budget is 1.0 s") != std::string::npos, cpu);
  CHECK_MESSAGE(cpu.find("3 MiB of state") != std::string::npos, cpu);
  const std::string ceiling = describe(Bound::kWallCeiling, l, Spent{milliseconds(5000), {}, milliseconds(2500)});
  CHECK_MESSAGE(ceiling.find("the wall ceiling ran out: 5.0 s of wall time, of which 2.5 s waiting") !=
                    std::string::npos,
                ceiling);
  CHECK(describe(Bound::kWallCap, l, Spent{milliseconds(10000), {}, {}}).find("the cap is 10.0 s") !=
        std::string::npos);
  CHECK(describe(Bound::kNone, l, Spent{}).empty());
}

TEST_CASE("the kernel's figures from /proc text") {
  // A command holding spaces and parentheses: the fields count from the last ')'.
  const std::string stat =
      "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 40 0 0 20 0 1 0 987654 1000000 200 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  const auto t = times_of_stat(stat);
  REQUIRE(t.has_value());
  CHECK(t->cpu_ticks == 290);
  CHECK(t->start_time == 987654);
  CHECK(!times_of_stat("1234 (x) S 1 2 3").has_value());
  CHECK(!times_of_stat("").has_value());
  const auto s = times_of_schedstat("5000000 1234567 42\n");
  REQUIRE(s.has_value());
  CHECK(s->run_ns == 5000000u);
  CHECK(s->delay_ns == 1234567u);
  CHECK(!times_of_schedstat("").has_value());
}

TEST_CASE("the state's size: Anonymous plus Swap of smaps_rollup") {
  const std::string rollup =
      "55d42a494000-7ffd1ae7f000 ---p 00000000 00:00 0   [rollup]\nRss:   1712 kB\nPss_Anon:  112 kB\n"
      "Anonymous:           112 kB\nLazyFree:  0 kB\nSwap:                  8 kB\nSwapPss:  8 kB\n";
  CHECK(state_bytes_of_rollup(rollup) == (112 + 8) * 1024ull);
  CHECK(state_bytes_of_rollup("Rss: 12 kB\n") == std::nullopt);
  CHECK(state_bytes_of_rollup("") == std::nullopt);
}

TEST_CASE("the state's size of a live process follows what it writes") {
  const auto before = state_bytes_of(getpid());
  REQUIRE(before.has_value());
  std::vector<char> big(64 << 20, 1);  // 64 MiB written
  const auto after = state_bytes_of(getpid());
  REQUIRE(after.has_value());
  CHECK(*after >= *before + (60ull << 20));
  CHECK(big[12345] == 1);
  CHECK(state_bytes_of(0x7ffffff0) == std::nullopt);  // no such process
}

TEST_CASE("a live limit: an agent process's CPU counts against the budget until it is gone") {
  TimeLimits l;
  l.cpu = milliseconds(200), l.wall = milliseconds(600000), l.cap = milliseconds(600000);
  TimeLimit limit(l);
  const pid_t child = fork();
  if (child == 0)
    for (;;) __asm__ volatile("" ::: "memory");
  limit.watch_agent(child);
  CHECK(limit.exceeded().first == Bound::kNone);
  // The child burns CPU: the budget runs out (the bound of this loop is generous).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (limit.exceeded().first == Bound::kNone && std::chrono::steady_clock::now() < until) usleep(20000);
  const auto [bound, what] = limit.exceeded();
  CHECK_MESSAGE(bound == Bound::kCpuBudget, what);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  const Spent gone = limit.spent();  // its last figures stay
  CHECK(gone.cpu >= milliseconds(200));
  CHECK(limit.exceeded().first == Bound::kCpuBudget);
}

TEST_CASE("a live limit: a sleeping process uses no CPU and is caught by the wall ceiling") {
  TimeLimits l;
  l.cpu = milliseconds(60000), l.wall = milliseconds(300), l.cap = milliseconds(600000);
  TimeLimit limit(l);
  const pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  limit.watch_agent(child);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (limit.exceeded().first == Bound::kNone && std::chrono::steady_clock::now() < until) usleep(20000);
  const auto [bound, what] = limit.exceeded();
  CHECK_MESSAGE(bound == Bound::kWallCeiling, what);
  CHECK(limit.spent().cpu < milliseconds(60000));
  CHECK(limit.left() <= limit.cap_left());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

namespace {
void wake(int) {}
}  // namespace

TEST_CASE("a live limit: a bound once hit stays hit, with the figures of when it was") {
  // The ceiling holds only while the agent is not runnable: a sleeping agent hits
  // it, then runs (as one stopped as hung may, a moment later). Asked again, the
  // limit must not say "within" (the rollback would name no bound).
  TimeLimits l;
  l.cpu = milliseconds(60000), l.wall = milliseconds(300), l.cap = milliseconds(600000);
  TimeLimit limit(l);
  signal(SIGUSR1, wake);
  const pid_t child = fork();
  if (child == 0) {
    pause();
    for (;;) __asm__ volatile("" ::: "memory");
  }
  signal(SIGUSR1, SIG_DFL);
  limit.watch_agent(child);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (limit.exceeded().first == Bound::kNone && std::chrono::steady_clock::now() < until) usleep(20000);
  const auto hit = limit.exceeded();
  REQUIRE_MESSAGE(hit.first == Bound::kWallCeiling, hit.second);
  kill(child, SIGUSR1);  // now runnable: the ceiling's own test says "within"
  usleep(200000);
  CHECK(bound_hit(l, limit.spent()) == Bound::kNone);
  CHECK(limit.exceeded() == hit);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}
