// proc_status_test — the /proc/PID/status reader, on sample text and on real
// processes (ourselves, a blocked and pending signal, a zombie child).
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <thread>

#include "inject/sys/proc_status.h"

using ttst::sys::proc_status_field;
using ttst::sys::ProcStatus;

TEST_CASE("fields of a sample status file") {
  ProcStatus s = ProcStatus::parse(
      "Name:\tserver v1\n"
      "State:\tt (tracing stop)\n"
      "Tgid:\t4242\n"
      "TracerPid:\t17\n"
      "Threads:\t3\n"
      "SigPnd:\t0000000000000400\n"
      "SigBlk:\tfffffffe7ffbfeff\n"
      "Seccomp:\t2\n"
      "garbage without a colon\n"
      "Empty:\n");
  CHECK(s.field("Name") == "server v1");
  CHECK(s.state() == 't');
  CHECK_FALSE(s.exited());
  CHECK(s.tgid() == 4242);
  CHECK(s.tracer_pid() == 17);
  CHECK(s.threads() == 3);
  CHECK(s.seccomp_mode() == 2);
  CHECK(s.signal_set("SigPnd") == 1u << (SIGSEGV - 1));
  CHECK(s.signal_set("SigBlk") == 0xfffffffe7ffbfeffull);
  CHECK(s.field("Empty") == "");
  CHECK(s.field("Missing") == "");
  CHECK(s.field("Tgi") == "");  // whole names only
  CHECK(s.signal_set("ShdPnd") == 0);
}

TEST_CASE("our own status") {
  std::optional<ProcStatus> s = ProcStatus::read(getpid());
  REQUIRE(s.has_value());
  CHECK(s->tgid() == getpid());
  CHECK(s->state() == 'R');
  CHECK(s->threads() >= 1);
  CHECK(s->field("PPid") == std::to_string(getppid()));
  CHECK(proc_status_field(getpid(), "Tgid") == std::to_string(getpid()));
}

TEST_CASE("a blocked signal raised at us is pending and blocked") {
  sigset_t usr2, old;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  REQUIRE(sigprocmask(SIG_BLOCK, &usr2, &old) == 0);
  const uint64_t bit = 1ull << (SIGUSR2 - 1);
  CHECK((ProcStatus::read(getpid())->signal_set("SigPnd") & bit) == 0);
  raise(SIGUSR2);  // to this thread: SigPnd
  std::optional<ProcStatus> s = ProcStatus::read(getpid());
  CHECK((s->signal_set("SigBlk") & bit) != 0);
  CHECK((s->signal_set("SigPnd") & bit) != 0);
  int sig = 0;
  REQUIRE(sigwait(&usr2, &sig) == 0);  // take it back
  sigprocmask(SIG_SETMASK, &old, nullptr);
  CHECK((ProcStatus::read(getpid())->signal_set("SigPnd") & bit) == 0);
}

TEST_CASE("an exited child not yet reaped is a zombie") {
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) _exit(0);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!ProcStatus::read(child)->exited() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::optional<ProcStatus> s = ProcStatus::read(child);
  REQUIRE(s.has_value());
  CHECK(s->state() == 'Z');
  CHECK(s->exited());
  CHECK(s->field("PPid") == std::to_string(getpid()));
  REQUIRE(waitpid(child, nullptr, 0) == child);
  CHECK_FALSE(ProcStatus::read(child).has_value());  // reaped: gone
}

TEST_CASE("a process that does not exist has no status") {
  CHECK_FALSE(ProcStatus::read(INT_MAX).has_value());
  CHECK(proc_status_field(INT_MAX, "Tgid") == "");
}
