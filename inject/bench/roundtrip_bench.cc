// roundtrip_bench.cc — prints the cost of the engine's main operations on a live
// target (a process blocked in read()):
//   agent round trip: map the region, load and relocate the agent, run the empty
//                     task, read the result, unmap, restore (goal <= 5 ms)
//   create R:         double remote fork from P, registers copied
//   create F:         double remote fork, fds made inheritable, execve of v2
// Usage: roundtrip_bench [rounds]   (run from the runfiles tree, e.g. bazel run)
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "inject/testing_agent.h"
#include "inject/agent_session.h"
#include "inject/process.h"
#include "inject/process_factory.h"
#include "inject/tests/test_util.h"

using namespace ttst::inject;
using ttst::inject::testing::Spawned;
using Clock = std::chrono::steady_clock;

static void report(const char* what, std::vector<double> ms, const char* goal) {
  std::sort(ms.begin(), ms.end());
  double sum = 0;
  for (double v : ms) sum += v;
  std::printf("%-22s n=%-4zu min %.3f  median %.3f  p90 %.3f  max %.3f  mean %.3f ms   %s\n", what,
              ms.size(), ms.front(), ms[ms.size() / 2], ms[ms.size() * 9 / 10], ms.back(),
              sum / static_cast<double>(ms.size()), goal);
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 200;
  if (rounds < 1) {
    std::fprintf(stderr, "roundtrip_bench: rounds must be a positive number\n");
    return 2;
  }
  Spawned blocked;
  try {
    blocked = ttst::inject::testing::spawn_blocked({"read"}, {SYS_read}, /*keep_rseq=*/true);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "roundtrip_bench: %s (run it from the runfiles tree: bazel run //inject/bench:roundtrip_bench)\n",
                 e.what());
    return 2;
  }
  const pid_t target = blocked.pid;
  try {
    SeizedProcess p = SeizedProcess::seize(target);
    std::vector<double> create_r, create_f, trip;
    for (int i = 0; i < std::max(5, rounds / 10); ++i) {
      auto t0 = Clock::now();
      ChildProcess r = create_reversed(p.main_thread());
      create_r.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    ChildProcess r = create_reversed(p.main_thread());
    AgentRequest rq;
    rq.task = TTST_AGENT_TASK_EMPTY;
    for (int i = 0; i < rounds; ++i) {
      auto t0 = Clock::now();
      AgentOutcome out = run_agent(r.task(), rq, testing_agent());
      trip.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (out.kind != AgentOutcome::Kind::kFinished) {
        std::fprintf(stderr, "roundtrip_bench: %s\n", out.describe().c_str());
        return 1;
      }
    }
    FutureSpec spec;
    spec.exe = ttst::inject::testing::runfile("tests/programs/blocker/blocker_bin");
    for (int i = 0; i < std::max(5, rounds / 20); ++i) {
      auto t0 = Clock::now();
      ChildProcess f = create_future(p.main_thread(), spec);
      create_f.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    utsname u{};
    uname(&u);
    std::printf("machine: %ld cores, kernel %s\n", sysconf(_SC_NPROCESSORS_ONLN), u.release);
    report("agent round trip", trip, "(goal <= 5 ms)");
    report("create R", create_r, "");
    report("create F (to exec)", create_f, "");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "roundtrip_bench: %s\n", e.what());
    ttst::inject::testing::kill_and_reap(target);
    return 1;
  }
  ttst::inject::testing::kill_and_reap(target);
  return 0;
}
