// factory_test.cc — creating R and F from P: P's writable memory and registers are
// byte-identical before and after; R is an exact copy of P, also after an agent
// session that writes nothing; F inherits P's listening socket and log file (both
// close-on-exec in P, whose flags stay untouched) and serves on that socket.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "inject/sys/proc_maps.h"
#include "inject/sys/proc_status.h"
#include "inject/testing_agent.h"
#include "inject/agent_session.h"
#include "inject/error.h"
#include "inject/memory.h"
#include "inject/sys/proc_entries.h"
#include "inject/process.h"
#include "inject/process_factory.h"
#include "inject/registers.h"
#include "inject/steps.h"
#include "inject/tests/test_util.h"

using namespace ttst::inject;
using namespace ttst::inject::testing;
namespace sys = ttst::sys;

namespace {

struct Server {
  Spawned s;
  int port = 0;
  std::string log;
};

Server start_server() {
  Server sv;
  char tmpl[] = "/tmp/ttst_inject_logXXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  sv.log = tmpl;
  sv.s = spawn({runfile("tests/programs/fdserver/fdserver_v1_bin"), sv.log});
  std::string line = read_line(sv.s.from_child);
  REQUIRE(line.rfind("port=", 0) == 0);
  sv.port = std::stoi(line.substr(5));
  wait_in_syscall(sv.s.pid, {SYS_accept, SYS_accept4});
  return sv;
}

}  // namespace

TEST_CASE("P is byte-identical after creating R and F; R is an exact copy; F serves P's socket") {
  become_subreaper();
  Server sv = start_server();
  const pid_t ppid = sv.s.pid;
  CHECK(request(sv.port, "before") == "v1:before");
  wait_in_syscall(ppid, {SYS_accept, SYS_accept4});

  SeizedProcess p = SeizedProcess::seize(ppid);
  Task& main = p.main_thread();
  const Registers regs0 = Registers::capture(main);
  const MemoryDigest mem0 = digest_writable_memory(ppid);
  const std::string flags10 = fd_flags(ppid, 10), flags11 = fd_flags(ppid, 11);
  REQUIRE(mem0.bytes > 0);
  // Both descriptors are close-on-exec in P (O_CLOEXEC = 02000000).
  CHECK((std::stoul(flags10, nullptr, 8) & 02000000) != 0);
  CHECK((std::stoul(flags11, nullptr, 8) & 02000000) != 0);

  // --- R ---
  ChildProcess r = create_reversed(main);
  CHECK(r.pid() != ppid);
  CHECK(sys::proc_status_field(r.pid(), "PPid") != std::to_string(ppid));  // not P's child
  {
    Registers now = Registers::capture(main);
    CHECK_MESSAGE(now == regs0, now.first_difference(regs0));
    CHECK(digest_writable_memory(ppid).hash == mem0.hash);
    Registers rregs = Registers::capture(r.task());
    CHECK_MESSAGE(rregs == regs0, rregs.first_difference(regs0));
    CHECK(digest_writable_memory(r.pid()).hash == mem0.hash);
  }
  // An agent session that writes nothing leaves no trace in R.
  AgentRequest rq;
  rq.task = TTST_AGENT_TASK_WRITE_NOTHING;
  const std::vector<uint8_t> metadata(10000, 3);
  rq.meta_self = metadata;
  AgentOutcome out = run_agent(r.task(), rq, testing_agent());
  REQUIRE_MESSAGE(out.kind == AgentOutcome::Kind::kFinished, out.describe());
  CHECK(out.status == 0);
  CHECK(out.detail[0] == 30000);  // the agent summed its metadata blob
  {
    Registers rregs = Registers::capture(r.task());
    CHECK_MESSAGE(rregs == regs0, rregs.first_difference(regs0));
    MemoryDigest rmem = digest_writable_memory(r.pid());
    CHECK(rmem.hash == mem0.hash);
    for (const sys::Mapping& m : sys::read_maps(r.pid()))
      CHECK_FALSE((m.start < out.region_start + out.region_size && out.region_start < m.end));
  }

  // --- F ---
  FutureSpec spec;
  spec.exe = runfile("tests/programs/fdserver/fdserver_v2_bin");
  ChildProcess f = create_future(main, spec);
  {
    Registers now = Registers::capture(main);
    CHECK_MESSAGE(now == regs0, now.first_difference(regs0));
    CHECK(digest_writable_memory(ppid).hash == mem0.hash);
    CHECK(fd_flags(ppid, 10) == flags10);
    CHECK(fd_flags(ppid, 11) == flags11);
    // F runs v2 with P's argv and the future marker.
    CHECK(slurp("/proc/" + std::to_string(f.pid()) + "/cmdline").find(sv.log) != std::string::npos);
    CHECK(slurp("/proc/" + std::to_string(f.pid()) + "/environ").find(std::string(TTST_FUTURE_ENV) + "=1") != std::string::npos);
    CHECK((std::stoul(fd_flags(f.pid(), 10), nullptr, 8) & 02000000) == 0);
  }
  // P's zombie-free: no child of P remains (the intermediate was reaped by P).
  CHECK(slurp("/proc/" + std::to_string(ppid) + "/task/" + std::to_string(ppid) + "/children").empty());

  // F serves on the inherited socket while P stays stopped.
  pid_t fpid = f.pid();
  f.release();
  CHECK(request(sv.port, "hello") == "v2:hello");
  std::string log;  // awaited: F writes its line after it has answered
  for (int i = 0; i < 2500 && (log = slurp(sv.log)).find("v2 served hello") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK(log.find("v1 served before") != std::string::npos);
  CHECK(log.find("v2 started as future") != std::string::npos);
  CHECK(log.find("v2 served hello") != std::string::npos);
  kill_and_reap(fpid);  // an orphan adopted by this subreaper

  // R goes away; P resumes and serves as v1, with everything as it was.
  pid_t rpid = r.pid();
  r.kill();
  CHECK(gone(rpid));
  p.release();
  CHECK(request(sv.port, "after") == "v1:after");
  kill_and_reap(ppid);
  unlink(sv.log.c_str());
}

TEST_CASE("a future version that cannot be executed is reported and leaves P unchanged") {
  become_subreaper();
  Server sv = start_server();
  SeizedProcess p = SeizedProcess::seize(sv.s.pid);
  const Registers regs0 = Registers::capture(p.main_thread());
  const MemoryDigest mem0 = digest_writable_memory(sv.s.pid);
  FutureSpec spec;
  spec.exe = "/nonexistent/v2";
  CHECK_THROWS_WITH_AS(create_future(p.main_thread(), spec), doctest::Contains("No such file"), InjectError);
  spec.exe = "relative/v2";
  CHECK_THROWS_WITH_AS(create_future(p.main_thread(), spec), doctest::Contains("absolute"), InjectError);
  CHECK(Registers::capture(p.main_thread()) == regs0);
  CHECK(digest_writable_memory(sv.s.pid).hash == mem0.hash);
  p.release();
  CHECK(request(sv.port, "still") == "v1:still");
  kill_and_reap(sv.s.pid);
  unlink(sv.log.c_str());
}

TEST_CASE("a multi-threaded P: every thread seized, R and F are single-threaded copies") {
  become_subreaper();
  Spawned s = spawn_blocked({"threads"}, {SYS_read});
  {
    SeizedProcess p = SeizedProcess::seize(s.pid);
    CHECK(p.threads().size() == 2);
    for (Task& t : p.threads()) CHECK(t.stopped());
    const Registers regs0 = Registers::capture(p.main_thread());
    const uint64_t mem0 = digest_writable_memory(s.pid).hash;
    ChildProcess r = create_reversed(p.main_thread());
    CHECK(sys::proc_status_field(r.pid(), "Threads") == "1");
    CHECK(digest_writable_memory(r.pid()).hash == mem0);
    AgentRequest rq;
    rq.task = TTST_AGENT_TASK_EMPTY;
    CHECK(run_agent(r.task(), rq, testing_agent()).kind == AgentOutcome::Kind::kFinished);
    FutureSpec spec;
    spec.exe = runfile("tests/programs/blocker/blocker_bin");
    spec.argv = {"blocker", "nanosleep", "10"};
    ChildProcess f = create_future(p.main_thread(), spec);
    CHECK(Registers::capture(p.main_thread()) == regs0);
    CHECK(digest_writable_memory(s.pid).hash == mem0);
  }
  // Released: the ticker thread runs again. Awaited: two more voluntary context
  // switches (each a nanosleep blocking) mean at least one sleep ended between
  // them, so it has counted a tick.
  pid_t ticker = 0;
  for (pid_t t : sys::thread_ids(s.pid).value_or(std::vector<pid_t>{}))
    if (t != s.pid) ticker = t;
  REQUIRE(ticker != 0);
  auto switches = [&] { return std::stol("0" + sys::proc_status_field(ticker, "voluntary_ctxt_switches")); };
  const long switches0 = switches();
  for (int i = 0; i < 2500 && switches() < switches0 + 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  REQUIRE(write(s.to_child, "mt\n", 3) == 3);
  CHECK(read_line(s.from_child) == "threads ret=3 errno=0 data=mt ticking=1");
  kill_and_reap(s.pid);
}

TEST_CASE("with rseq registered (glibc's default), P and R are identical outside the kernel-written rseq area") {
  become_subreaper();
  Spawned s = spawn_blocked({"read"}, {SYS_read}, /*keep_rseq=*/true);
  {
    SeizedProcess p = SeizedProcess::seize(s.pid);
    std::vector<Range> kernel = p.kernel_written_ranges();
    REQUIRE(kernel.size() == 1);
    CHECK(kernel[0].end - kernel[0].start >= 20);  // struct rseq
    const Registers regs0 = Registers::capture(p.main_thread());
    const uint64_t mem0 = digest_writable_memory(s.pid, kernel).hash;
    for (int i = 0; i < 3; ++i) {
      ChildProcess r = create_reversed(p.main_thread());
      AgentRequest rq;
      rq.task = TTST_AGENT_TASK_WRITE_NOTHING;
      CHECK(run_agent(r.task(), rq, testing_agent()).kind == AgentOutcome::Kind::kFinished);
      CHECK(digest_writable_memory(r.pid(), kernel).hash == mem0);
      CHECK(r.task().rseq_area().has_value());  // R inherited the registration
    }
    CHECK(Registers::capture(p.main_thread()) == regs0);
    CHECK(digest_writable_memory(s.pid, kernel).hash == mem0);
  }
  REQUIRE(write(s.to_child, "rseq\n", 5) == 5);
  CHECK(read_line(s.from_child) == "read ret=5 errno=0 data=rseq usr1=0");
  kill_and_reap(s.pid);
}

TEST_CASE("an engine error in the middle of a fork leaves no process behind and P intact") {
  become_subreaper();
  Server sv = start_server();
  for (const char* fail_at : {"fork.intermediate_adopted", "fork.child_created"}) {
    CAPTURE(fail_at);
    std::vector<pid_t> created;
    set_step_hook([&](std::string_view name, pid_t pid) {
      if (name.rfind("fork.", 0) == 0) created.push_back(pid);
      if (name == fail_at) throw std::runtime_error("injected failure");
    });
    {
      SeizedProcess p = SeizedProcess::seize(sv.s.pid);
      const Registers regs0 = Registers::capture(p.main_thread());
      const uint64_t mem0 = digest_writable_memory(sv.s.pid).hash;
      CHECK_THROWS_WITH(create_reversed(p.main_thread()), "injected failure");
      CHECK(Registers::capture(p.main_thread()) == regs0);
      CHECK(digest_writable_memory(sv.s.pid).hash == mem0);
      // P reaped the intermediate: it has no child at all.
      CHECK(slurp("/proc/" + std::to_string(sv.s.pid) + "/task/" + std::to_string(sv.s.pid) +
                  "/children").empty());
    }
    set_step_hook(nullptr);
    REQUIRE_FALSE(created.empty());
    for (pid_t pid : created) CHECK(gone(pid));
    CHECK(request(sv.port, fail_at) == std::string("v1:") + fail_at);
  }
  kill_and_reap(sv.s.pid);
  unlink(sv.log.c_str());
}
