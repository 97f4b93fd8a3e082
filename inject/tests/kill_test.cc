// kill_test.cc — the supervisor killed with SIGKILL at each named step of the
// engine: P keeps running correctly (it serves requests, is no longer traced) and
// every R, F and intermediate process it created is gone.
//
// The engine runs in a forked child of this test; a step hook reports each step
// and its pid on a pipe and SIGKILLs the engine at the chosen step. P is left with
// no child at all (no zombie): a released P reaps its intermediate itself.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <sstream>

#include "inject/sys/proc_status.h"
#include "inject/testing_agent.h"
#include "inject/agent_session.h"
#include "inject/process.h"
#include "inject/process_factory.h"
#include "inject/steps.h"
#include "inject/tests/test_util.h"

using namespace ttst::inject;
using namespace ttst::inject::testing;
namespace sys = ttst::sys;

namespace {

// The engine's whole job: R, an agent in R, F, an agent (hanging) in F.
[[noreturn]] void engine(pid_t ppid, const std::string& kill_at, int report) {
  std::map<std::string, int> seen;
  set_step_hook([&](std::string_view name, pid_t pid) {
    std::string key = std::string(name) + "#" + std::to_string(++seen[std::string(name)]);
    dprintf(report, "%s %d\n", key.c_str(), pid);
    if (key == kill_at) kill(getpid(), SIGKILL);
  });
  try {
    SeizedProcess p = SeizedProcess::seize(ppid);
    step("p.seized", ppid);
    ChildProcess r = create_reversed(p.main_thread());
    AgentRequest rq;
    rq.task = TTST_AGENT_TASK_EMPTY;
    run_agent(r.task(), rq, testing_agent());
    FutureSpec spec;
    spec.exe = runfile("tests/programs/fdserver/fdserver_v2_bin");
    ChildProcess f = create_future(p.main_thread(), spec);
    rq.task = TTST_AGENT_TASK_INFINITE_LOOP;
    rq.timeout = milliseconds(200);
    run_agent(f.task(), rq, testing_agent());
    step("engine.done", 0);
  } catch (const std::exception& e) {
    dprintf(report, "error %s\n", e.what());
    _exit(1);
  }
  _exit(0);
}

}  // namespace

TEST_CASE("supervisor killed at each step: P runs on, R and F are gone") {
  become_subreaper();
  char tmpl[] = "/tmp/ttst_inject_killXXXXXX";
  close(mkstemp(tmpl));
  Spawned sv = spawn({runfile("tests/programs/fdserver/fdserver_v1_bin"), tmpl});
  std::string line = read_line(sv.from_child);
  REQUIRE(line.rfind("port=", 0) == 0);
  int port = std::stoi(line.substr(5));
  wait_in_syscall(sv.pid, {SYS_accept, SYS_accept4});

  const char* steps[] = {
      "p.seized#1",
      // Inside P's fail-safe remote clone (R): released, P must return to its own
      // context through its frame, and a clone child must exit at once.
      "past.frames_written#1",
      "past.frames_armed#1",
      "past.syscall_entry#1",
      "past.syscall_armed#1",  // the clone may run: P must reap I itself
      "past.syscall_done#1",
      "fork.intermediate_created#1",  // I exists, not yet EXITKILL: it exits on its own
      "fork.intermediate_adopted#1",
      "fork.child_created#1",
      "fork.intermediate_dead#1",  // I a zombie: P reaps it
      // P's remote wait4 that reaps the intermediate.
      "past.syscall_entry#2",
      "past.syscall_armed#2",
      "past.syscall_done#2",
      "past.child_reaped#1",
      "past.context_restored#1",  // the kernel restarts P's call from here on
      "past.stack_restored#1",
      "fork.intermediate_reaped#1",
      "reversed.ready#1",
      "agent.loaded#1",
      "agent.running#1",
      "agent.finished#1",
      "fork.intermediate_created#2",
      "fork.child_created#2",
      "fork.intermediate_dead#2",
      "past.child_reaped#2",
      "future.fds_inheritable#1",
      "future.exec_done#1",
      "agent.loaded#2",
      "agent.running#2",
      "agent.finished#2",
      "engine.done#1",
  };
  int round = 0;
  for (const char* kill_at : steps) {
    CAPTURE(kill_at);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t eng = fork();
    if (eng == 0) {
      close(fds[0]);
      engine(sv.pid, kill_at, fds[1]);
    }
    close(fds[1]);
    int status = 0;
    REQUIRE(waitpid(eng, &status, 0) == eng);
    std::string report;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) report.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    INFO(report);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    CHECK(report.find(std::string(kill_at) + " ") != std::string::npos);

    // P: no longer traced, and serving as v1.
    std::string msg = "ping" + std::to_string(round++);
    CHECK(request(port, msg) == "v1:" + msg);
    CHECK(sys::proc_status_field(sv.pid, "TracerPid") == "0");
    // P holds no child, not even a zombie: a released P reaps its intermediate
    // itself (the request above was served after that, by the same thread).
    CHECK(slurp("/proc/" + std::to_string(sv.pid) + "/task/" + std::to_string(sv.pid) + "/children") == "");
    // Every process the engine created is gone.
    std::istringstream in(report);
    std::string name;
    pid_t pid;
    while (in >> name >> pid)
      if (name.rfind("fork.", 0) == 0 || name.rfind("future.", 0) == 0 ||
          name.rfind("reversed.", 0) == 0)
        CHECK_MESSAGE(gone(pid), name << " pid " << pid << " still runs");
  }
  // P still serves after all the attempts, and only v1 ever answered.
  CHECK(request(port, "last") == "v1:last");
  std::string log = slurp(tmpl);
  CHECK(log.find("v2") == std::string::npos);
  kill_and_reap(sv.pid);
  unlink(tmpl);
}
