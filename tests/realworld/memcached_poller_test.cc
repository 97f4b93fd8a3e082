// memcached 1.2.2 built with ttst-cc (build_release.sh's ttst-cc mode: the project's
// patch tests/realworld/memcached/memcached-1.2.2.patch runs one libevent round per
// turn of a loop in main holding TTST_UPDATE_POINT(); the library poller path
// "event_base_loop" is declared through ttst-cc's TTST_POLLER), idle with no
// traffic: its wait is inside libevent (main -> event_base_loop -> epoll_dispatch
// -> epoll_wait, a shared library without debug info) and the quiescence verdict
// (quiesce::check) finds it quiescent at the first probe; again after it served
// requests (whose callbacks ran in the same stack), and it serves normally after
// the probes. A missing corpus (../shared/realworld beside the workspace) fails.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "inject/tests/test_util.h"
#include "stfw/runtime/tests/child.h"
#include "supervisor/quiesce/quiesce.h"
#include "tests/util/test_util.h"

namespace fs = std::filesystem;
using namespace ttst::quiesce;

namespace {

using ttst::testutil::free_port;

std::string run(const std::string& cmd) {
  const ttst::testutil::Ran ran = ttst::testutil::run(cmd);
  REQUIRE_MESSAGE(ran.status == 0, cmd << " failed");
  std::string out = ran.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void wait_in_epoll(pid_t pid) {
  ttst::inject::testing::wait_in_syscall(pid, {SYS_epoll_wait, SYS_epoll_pwait}, std::chrono::seconds(60));
}

// One exchange on a new connection: sends `req`, reads until the reply ends with `end`.
std::string ask(int port, const std::string& req, const std::string& end) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(write(s, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[4096];
  while (out.size() < end.size() || out.compare(out.size() - end.size(), end.size(), end) != 0) {
    ssize_t n = read(s, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(s);
  return out;
}

}  // namespace

TEST_CASE("memcached 1.2.2 built with ttst-cc, idle inside libevent's event_base_loop: quiescent at once") {
  const fs::path root = fs::canonical("tests/realworld/build_release.sh").parent_path().parent_path().parent_path();
  const fs::path corpus = root / ".." / "shared" / "realworld";
  const fs::path tarball = corpus / "memcached-1.2.2.tar.gz";
  REQUIRE_MESSAGE(fs::is_regular_file(tarball), "the real-server corpus lacks " << tarball.lexically_normal()
                                                                                << " (../shared/realworld beside the workspace)");
  const fs::path ttst_cc = fs::canonical("stfw/runtime/ttst/bin/ttst-cc");
  const char* tmp = std::getenv("TEST_TMPDIR");
  const fs::path out = fs::path(tmp ? tmp : "/tmp") / "realworld-memcached";
  const std::string memcached = run("bash " + (root / "tests/realworld/build_release.sh").string() + " " +
                                    tarball.string() + " " + out.string() + " " + ttst_cc.string());

  UpdatePointMap map = UpdatePointMap::load(memcached);
  REQUIRE(map.scopes_complete());
  REQUIRE(map.upoints().size() == 1);
  REQUIRE(map.poller_paths() == std::vector<std::vector<std::string>>{{"event_base_loop"}});
  REQUIRE(map.poller_library_function() == std::vector<std::string>{"event_base_loop"});

  const int port = free_port();
  ttst::test::Child m({memcached, "-p", std::to_string(port), "-U", "0", "-l", "127.0.0.1", "-u", "root"});
  wait_in_epoll(m.pid());
  Verdict v = check(m.pid(), map);
  MESSAGE("idle: " << v.message << " — " << (v.threads.empty() ? "" : v.threads[0].where));
  CHECK(v.quiescent);
  REQUIRE(v.threads.size() == 1);
  CHECK(v.threads[0].state == ThreadState::kQuiescent);

  // Unaware of the probe: it stores and answers; idle again, quiescent again.
  CHECK(ask(port, "set k 5 0 3\r\nabc\r\n", "\r\n") == "STORED\r\n");
  CHECK(ask(port, "get k\r\n", "END\r\n") == "VALUE k 5 3\r\nabc\r\nEND\r\n");
  wait_in_epoll(m.pid());
  Verdict w = check(m.pid(), map);
  MESSAGE("after requests: " << w.message << " — " << (w.threads.empty() ? "" : w.threads[0].where));
  CHECK(w.quiescent);
  CHECK(ask(port, "get k\r\n", "END\r\n") == "VALUE k 5 3\r\nabc\r\nEND\r\n");
}
