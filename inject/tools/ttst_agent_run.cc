// ttst_agent_run.cc — `ttst-agent-run`: exercise the injection engine by hand on a
// running process. Seizes PID, forks a reversed copy R from it (and optionally a
// future F by exec'ing --future), runs one agent task in R (or F), prints the
// outcome in one line, removes R/F and lets PID run on unchanged.
//
//   ttst-agent-run --pid N [--task empty|write-nothing|null|abort|stack-overflow|loop|read-peer]
//                  [--in-future /abs/v2] [--timeout-ms 2000] [--verify]
// Exit status: 0 agent finished, 1 crashed, 2 hung, 3 died, 4 engine error,
//              64 bad usage.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <optional>

#include "inject/sys/proc_maps.h"
#include "inject/testing_agent.h"
#include "inject/agent_session.h"
#include "inject/error.h"
#include "inject/memory.h"
#include "inject/process.h"
#include "inject/process_factory.h"
#include "inject/registers.h"

using namespace ttst::inject;
namespace sys = ttst::sys;

int main(int argc, char** argv) {
  CLI::App app{"Run one freestanding-agent task in a fork of a running process (ttst inject engine)"};
  int pid = 0;
  std::string task = "empty", future;
  int timeout_ms = 2000;
  bool verify = false;
  app.add_option("--pid", pid, "the running process (P)")->required();
  app.add_option("--task", task, "agent task: empty, write-nothing, null, abort, stack-overflow, loop, read-peer");
  app.add_option("--in-future", future, "run the agent in a future process F that execs this binary instead of R");
  app.add_option("--timeout-ms", timeout_ms, "agent timeout in milliseconds");
  app.add_flag("--verify", verify, "check that P's registers and writable memory are unchanged");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 64;
  }
  static const std::map<std::string, uint32_t> kTasks = {
      {"empty", TTST_AGENT_TASK_EMPTY}, {"write-nothing", TTST_AGENT_TASK_WRITE_NOTHING},
      {"null", TTST_AGENT_TASK_NULL_DEREF}, {"abort", TTST_AGENT_TASK_ABORT},
      {"stack-overflow", TTST_AGENT_TASK_STACK_OVERFLOW}, {"loop", TTST_AGENT_TASK_INFINITE_LOOP},
      {"read-peer", TTST_AGENT_TASK_READ_PEER}};
  auto it = kTasks.find(task);
  if (it == kTasks.end()) {
    std::fprintf(stderr, "ttst-agent-run: unknown task '%s'; use one of empty, write-nothing, null, abort, stack-overflow, loop, read-peer\n", task.c_str());
    return 64;
  }
  if (pid <= 0 || timeout_ms <= 0) {
    std::fprintf(stderr, "ttst-agent-run: --pid and --timeout-ms must be positive\n");
    return 64;
  }
  try {
    SeizedProcess p = SeizedProcess::seize(pid);
    Registers regs0 = Registers::capture(p.main_thread());
    MemoryDigest mem0;
    std::vector<Range> kernel_ranges = p.kernel_written_ranges();
    if (verify) mem0 = digest_writable_memory(pid, kernel_ranges);
    std::optional<ChildProcess> child;
    if (future.empty()) {
      child.emplace(create_reversed(p.main_thread()));
    } else {
      FutureSpec spec;
      spec.exe = future;
      child.emplace(create_future(p.main_thread(), spec));
    }
    AgentRequest rq;
    rq.task = it->second;
    rq.peer_pid = pid;
    rq.timeout = milliseconds(timeout_ms);
    if (rq.task == TTST_AGENT_TASK_READ_PEER) {
      for (const sys::Mapping& m : sys::read_maps(pid))
        if (m.path == "[stack]") rq.args = {m.end - 4096, 4096};
    }
    AgentOutcome out = run_agent(child->task(), rq, testing_agent());
    std::printf("%s in %s %d: %s\n", task.c_str(), future.empty() ? "R" : "F", child->pid(),
                out.describe().c_str());
    child.reset();
    if (verify) {
      bool same_regs = Registers::capture(p.main_thread()) == regs0;
      bool same_mem = digest_writable_memory(pid, kernel_ranges).hash == mem0.hash;
      std::printf("P %d: registers %s, writable memory (%llu bytes, rseq areas aside) %s\n", pid,
                  same_regs ? "unchanged" : "CHANGED", static_cast<unsigned long long>(mem0.bytes),
                  same_mem ? "unchanged" : "CHANGED");
      if (!same_regs || !same_mem) return 4;
    }
    switch (out.kind) {
      case AgentOutcome::Kind::kFinished: return 0;
      case AgentOutcome::Kind::kCrashed: return 1;
      case AgentOutcome::Kind::kHung: return 2;
      case AgentOutcome::Kind::kDied: return 3;
    }
  } catch (const std::exception& e) {  // the engine's InjectError and the /proc readers' errors
    std::fprintf(stderr, "ttst-agent-run: %s\n", e.what());
    return 4;
  }
  return 4;
}
