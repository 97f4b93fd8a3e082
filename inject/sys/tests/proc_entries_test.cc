// proc_entries_test — threads and descriptors listed from /proc, checked against
// threads and descriptors this test creates.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "inject/sys/proc_entries.h"

using ttst::sys::open_fds;
using ttst::sys::thread_ids;

TEST_CASE("a thread we start is listed, and gone once joined") {
  const std::vector<pid_t> before = *thread_ids(getpid());
  CHECK(std::find(before.begin(), before.end(), getpid()) != before.end());  // the main thread
  std::mutex m;
  std::condition_variable cv;
  pid_t tid = 0;
  bool release = false;
  std::thread t([&] {
    std::unique_lock<std::mutex> l(m);
    tid = gettid();
    cv.notify_all();
    cv.wait(l, [&] { return release; });
  });
  {
    std::unique_lock<std::mutex> l(m);
    cv.wait(l, [&] { return tid != 0; });
  }
  const std::vector<pid_t> during = *thread_ids(getpid());
  CHECK(during.size() == before.size() + 1);
  CHECK(std::find(during.begin(), during.end(), tid) != during.end());
  CHECK(std::is_sorted(during.begin(), during.end()));
  {
    std::lock_guard<std::mutex> l(m);
    release = true;
  }
  cv.notify_all();
  t.join();
  // join() returns when the thread's id is cleared, a moment before the kernel
  // drops it from /proc: wait for that, bounded.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (*thread_ids(getpid()) != before && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(*thread_ids(getpid()) == before);
}

TEST_CASE("a descriptor we open is listed, and gone once closed") {
  // A high number: listing our own /proc/self/fd opens a descriptor itself, at
  // the lowest free number, which a just-closed low one would be.
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(null_fd >= 0);
  int fd = fcntl(null_fd, F_DUPFD_CLOEXEC, 900);
  close(null_fd);
  REQUIRE(fd >= 900);
  std::vector<int> fds = *open_fds(getpid());
  CHECK(std::find(fds.begin(), fds.end(), fd) != fds.end());
  CHECK(std::is_sorted(fds.begin(), fds.end()));
  close(fd);
  fds = *open_fds(getpid());
  CHECK(std::find(fds.begin(), fds.end(), fd) == fds.end());
}

TEST_CASE("a process that does not exist has neither") {
  CHECK_FALSE(thread_ids(INT_MAX).has_value());
  CHECK_FALSE(open_fds(INT_MAX).has_value());
}
