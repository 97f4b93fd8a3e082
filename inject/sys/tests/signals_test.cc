// signals_test — signal names and the fault/crash classification, checked against
// how real child processes die.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

#include "inject/sys/signals.h"

using namespace ttst::sys;

namespace {

// The default action for `sig`, set by the raw system call: the test framework's
// crash handlers (inherited over fork) and a sanitizer's (which intercepts
// signal() and sigaction()) must not turn the child's death into an exit.
void default_action(int sig) {
  struct {
    void* handler;
    unsigned long flags;
    void* restorer;
    unsigned long mask;
  } sa = {reinterpret_cast<void*>(SIG_DFL), 0, nullptr, 0};
  syscall(SYS_rt_sigaction, sig, &sa, nullptr, sizeof sa.mask);
}

// Runs `body` in a child and returns the signal that killed it (0 if it exited).
template <typename F>
int death_signal_of(F body) {
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP}) default_action(sig);
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
  // A page that may not be touched (not a null store, which a sanitizer reports itself).
  void* page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(page != MAP_FAILED);
  int sig = death_signal_of([page] { *static_cast<volatile int*>(page) = 1; });
  munmap(page, 4096);
  CHECK(sig == SIGSEGV);
  CHECK(is_fault_signal(sig));
  CHECK(is_crash_signal(sig));
}

TEST_CASE("an invalid instruction is a fault") {
  int sig = death_signal_of([] { __asm__ volatile("ud2"); });
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
