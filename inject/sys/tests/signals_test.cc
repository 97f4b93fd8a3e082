// signals_test — signal names and the fault/crash classification, checked against
// how real child processes die.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

#include "inject/sys/signals.h"

using namespace ttst::sys;

namespace {

// Runs `body` in a child and returns the signal that killed it (0 if it exited).
template <typename F>
int death_signal_of(F body) {
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    signal(SIGABRT, SIG_DFL);
    body();
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

}  // namespace

TEST_CASE("signal names") {
  CHECK(signal_name(SIGSEGV) == "SIGSEGV");
  CHECK(signal_name(SIGKILL) == "SIGKILL");
  CHECK(signal_name(SIGSYS) == "SIGSYS");
  CHECK(signal_name(77) == "signal 77");
}

TEST_CASE("the fault signals are the six synchronous ones, each once") {
  std::set<int> faults(fault_signals().begin(), fault_signals().end());
  CHECK(faults == std::set<int>{SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS});
  CHECK(faults.size() == fault_signals().size());
  for (int sig = 1; sig < 65; ++sig) {
    CAPTURE(sig);
    CHECK(is_fault_signal(sig) == (faults.count(sig) == 1));
    CHECK(is_crash_signal(sig) == (faults.count(sig) == 1 || sig == SIGABRT));
  }
}

TEST_CASE("a bad memory access is a fault") {
  int sig = death_signal_of([] { *static_cast<volatile int*>(nullptr) = 1; });
  CHECK(sig == SIGSEGV);
  CHECK(is_fault_signal(sig));
  CHECK(is_crash_signal(sig));
}

TEST_CASE("an invalid instruction is a fault") {
  int sig = death_signal_of([] { __builtin_trap(); });  // ud2
  CHECK(sig == SIGILL);
  CHECK(is_fault_signal(sig));
}

TEST_CASE("abort() is a crash but not a fault") {
  int sig = death_signal_of([] { std::abort(); });
  CHECK(sig == SIGABRT);
  CHECK(is_crash_signal(sig));
  CHECK_FALSE(is_fault_signal(sig));
}

TEST_CASE("being killed or terminated is neither") {
  for (int sig : {SIGKILL, SIGTERM, SIGINT, SIGPIPE, SIGSTOP, SIGCHLD}) {
    CAPTURE(sig);
    CHECK_FALSE(is_fault_signal(sig));
    CHECK_FALSE(is_crash_signal(sig));
  }
}
