// proc_syscall_test.cc — /proc/PID/task/TID/syscall read: the line's two shapes, a
// child blocked in read() found there (and waited for at its own sp and pc, not at
// another's, or in any call), a computing child found running (and never in a call).
#include "inject/sys/proc_syscall.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

using namespace ttst::sys;
using std::chrono::microseconds;
using std::chrono::milliseconds;

namespace {

// A child that blocks in read() on a pipe (`spin`: computes for ever instead).
struct Child {
  pid_t pid = -1;
  int wr = -1;
  explicit Child(bool spin) {
    int p[2];
    REQUIRE(pipe(p) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(p[1]);
      char c;
      volatile unsigned long spins = 0;
      while (spin) spins = spins + 1;
      _exit(read(p[0], &c, 1) == 1 ? 0 : 1);
    }
    close(p[0]);
    wr = p[1];
  }
  ~Child() {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(wr);
  }
};

}  // namespace

TEST_CASE("the line's shapes: in a call, blocked elsewhere, running") {
  const std::optional<BlockedIn> in =
      parse_blocked_in("0 0x3 0x7ffd1000 0x1 0x0 0x0 0x0 0x7ffd0fe8 0x7f12345678\n");
  REQUIRE(in);
  CHECK(in->nr == 0);
  CHECK(in->sp == 0x7ffd0fe8);
  CHECK(in->pc == 0x7f12345678);
  const std::optional<BlockedIn> stopped = parse_blocked_in("-1 0x7ffd0fe8 0x55550000\n");
  REQUIRE(stopped);
  CHECK(stopped->nr == -1);
  CHECK(stopped->pc == 0x55550000);
  CHECK_FALSE(parse_blocked_in("running\n"));
  CHECK_FALSE(parse_blocked_in(""));
}

TEST_CASE("a child blocked in read() is found there, and waited for where it is only") {
  Child c(false);
  std::optional<BlockedIn> b;
  for (int i = 0; i < 2000 && !(b = blocked_in(c.pid, c.pid)); ++i) std::this_thread::sleep_for(milliseconds(1));
  REQUIRE(b);
  CHECK(b->nr == SYS_read);
  CHECK(wait_blocked_at(c.pid, c.pid, *b, microseconds(100000)));
  BlockedIn elsewhere = *b;
  elsewhere.sp += 16;  // another frame
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(wait_blocked_at(c.pid, c.pid, elsewhere, microseconds(20000)));
  CHECK(std::chrono::steady_clock::now() - t0 >= milliseconds(20));
  const std::optional<BlockedIn> any = wait_in_call(c.pid, c.pid, microseconds(100000));  // any call: this one
  REQUIRE(any);
  CHECK(any->nr == SYS_read);
  CHECK(any->sp == b->sp);
}

TEST_CASE("a computing child is not blocked anywhere") {
  Child c(true);
  std::this_thread::sleep_for(milliseconds(20));
  int running = 0;
  for (int i = 0; i < 20; ++i) running += !blocked_in(c.pid, c.pid);
  CHECK(running == 20);  // runnable, on a CPU or waiting for one: "running" either way
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(wait_in_call(c.pid, c.pid, microseconds(20000)));  // never in a call: the bound passes
  CHECK(std::chrono::steady_clock::now() - t0 >= milliseconds(20));
  CHECK_FALSE(blocked_in(c.pid, 999999999));
}
