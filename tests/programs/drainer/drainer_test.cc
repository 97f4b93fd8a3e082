// drainer_test.cc — a server that drains each connection before it waits again
// (drainer.c, memcached 1.2's loop), updated while a client sends its requests one
// after another. Seized mid-request, it is not driven to its update point under
// PTRACE_SYSCALL (which kept memcached 1.2 from ever waiting, for seconds, while
// seized): it is released and seized again where it waits (report `stops`). Both
// without and with --precopy; every reply right, no system call of P cut short
// (eintr=0), P serving afterwards.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "inject/tests/test_util.h"
#include "tests/util/test_util.h"

using namespace ttst::inject::testing;
using std::chrono::milliseconds;

namespace {

int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

// One request on `fd`, its reply line ("" when the connection failed).
std::string ask(int fd) {
  if (write(fd, "REQ\n", 4) != 4) return "";
  std::string line;
  char c;
  while (read(fd, &c, 1) == 1) {
    if (c == '\n') return line;
    line += c;
  }
  return "";
}

// A client on its own connection: a request, its reply, 300 us, the next.
struct Client {
  explicit Client(int port) : fd(connect_to(port)), thread([this] { run(); }) {}
  ~Client() {
    stop = true;
    thread.join();
    close(fd);
  }
  void run() {
    long last = -1;  // P's count goes on from one client to the next
    while (!stop) {
      const std::string reply = ask(fd);
      long served = -1, eintr = -1;
      if (std::sscanf(reply.c_str(), "OK served=%ld eintr=%ld", &served, &eintr) != 2 || (last >= 0 && served != last + 1) ||
          eintr != 0) {
        wrong = reply.empty() ? "no reply" : reply;
        return;
      }
      last = served, ++replies;
      const timespec pause{0, 300 * 1000};
      nanosleep(&pause, nullptr);
    }
  }
  int fd;
  std::atomic<bool> stop{false};
  std::atomic<long> replies{0};
  std::string wrong;
  std::thread thread;
};

}  // namespace

TEST_CASE("a server that drains its connection is seized again where it waits, not driven, under a client") {
  become_subreaper();
  Spawned p = spawn({runfile("tests/programs/drainer/drainer")});
  struct KillAtEnd {
    pid_t pid;
    ~KillAtEnd() { kill_and_reap(pid); }
  } kill_p{p.pid};
  int port = 0;
  REQUIRE(std::sscanf(read_line(p.from_child, milliseconds(20000)).c_str(), "PORT %d", &port) == 1);
  for (const std::string extra : {"", "--precopy"}) {
    CAPTURE(extra);
    long before = 0;
    std::string wrong;
    {
      Client client(port);
      while (client.replies < 20 && client.wrong.empty()) usleep(1000);
      const ttst::testutil::Supervised r = ttst::testutil::supervise(
          p.pid, runfile("tests/programs/drainer/drainer"), "--validate-only --timeout 60s " + extra);
      REQUIRE_MESSAGE(r.status == 0, r.err);
      CHECK(r.report.value("reason", "") == "validate_only");
      REQUIRE(r.report["stops"].is_array());
      REQUIRE(!r.report["stops"].empty());
      for (const auto& stop : r.report["stops"]) {  // busy: found at its wait by chance, or seized again there
        CAPTURE(stop.dump());
        CHECK((stop["how"] == "found_quiescent" || stop["how"] == "seized_again"));
      }
      before = client.replies;
      while (client.replies < before + 20 && client.wrong.empty()) usleep(1000);  // P serves on
      wrong = client.wrong;
    }
    CHECK_MESSAGE(wrong.empty(), wrong);
  }
}
