// nginx 1.26.0 built with ttst-cc (build_release.sh's ttst-cc mode: the project's
// patch tests/realworld/nginx/nginx-1.26.0.patch puts TTST_UPDATE_POINT() in
// ngx_single_process_cycle's loop; the poller path ngx_process_events_and_timers ->
// ngx_epoll_process_events is declared through ttst-cc's TTST_POLLER), running
// single-process (`master_process off; daemon off;`) on a free port with no
// traffic at all: the quiescence verdict (quiesce::check) finds it quiescent at
// the first probe, in epoll_wait called by ngx_epoll_process_events. The same
// binary with its .ttst.pollers section removed is what nginx was before: blocked
// "mid-request". nginx serves normally after the probes. A missing corpus
// (../shared/realworld beside the workspace) fails the test.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "inject/tests/test_util.h"
#include "stfw/runtime/tests/child.h"
#include "supervisor/quiesce/quiesce.h"
#include "tests/util/test_util.h"

namespace fs = std::filesystem;
using namespace ttst::quiesce;

namespace {

using ttst::testutil::free_port;

fs::path workspace_root() {
  return fs::canonical("tests/realworld/build_release.sh").parent_path().parent_path().parent_path();
}

std::string run(const std::string& cmd) {
  const ttst::testutil::Ran ran = ttst::testutil::run(cmd);
  REQUIRE_MESSAGE(ran.status == 0, cmd << " failed");
  std::string out = ran.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Waits until nginx sleeps in epoll_wait or epoll_pwait (by /proc: no request is
// ever sent to find out whether it is up).
void wait_in_epoll(pid_t pid) {
  ttst::inject::testing::wait_in_syscall(pid, {SYS_epoll_wait, SYS_epoll_pwait}, std::chrono::seconds(60));
}

std::string get(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const std::string req = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
  REQUIRE(write(s, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(s, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(s);
  return out;
}

}  // namespace

TEST_CASE("nginx 1.26.0 built with ttst-cc, single-process and idle with no traffic: quiescent at once") {
  const fs::path root = workspace_root();
  const fs::path corpus = root / ".." / "shared" / "realworld";
  REQUIRE_MESSAGE(fs::is_directory(corpus), "the real-server corpus is missing: no directory "
                                                << corpus.lexically_normal() << " (../shared/realworld beside the workspace)");
  const fs::path tarball = corpus / "nginx-1.26.0.tar.gz";
  REQUIRE_MESSAGE(fs::is_regular_file(tarball), "the real-server corpus lacks " << tarball);
  const fs::path ttst_cc = fs::canonical("stfw/runtime/ttst/bin/ttst-cc");
  const char* tmp = std::getenv("TEST_TMPDIR");
  const fs::path out = fs::path(tmp ? tmp : "/tmp") / "realworld-ttst";
  const std::string nginx = run("bash " + (root / "tests/realworld/build_release.sh").string() + " " +
                                tarball.string() + " " + out.string() + " " + ttst_cc.string());

  // The same binary without its declaration: nginx as it was before.
  const std::string undeclared = (out / "nginx-undeclared").string();
  run("objcopy --remove-section=.ttst.pollers " + nginx + " " + undeclared);

  const fs::path prefix = out / "prefix";
  fs::create_directories(prefix / "logs");
  fs::create_directories(prefix / "html");
  std::ofstream(prefix / "html" / "index.html") << "hello from nginx\n";
  const int port = free_port();
  {
    std::ofstream conf(prefix / "nginx.conf");
    conf << "master_process off;\ndaemon off;\nerror_log " << (prefix / "logs/error.log").string()
         << " info;\npid " << (prefix / "logs/nginx.pid").string() << ";\n"
         << "events { worker_connections 64; }\n"
         << "http {\n  access_log off;\n  server {\n    listen 127.0.0.1:" << port << ";\n    root "
         << (prefix / "html").string() << ";\n  }\n}\n";
  }
  ttst::test::Child n({nginx, "-p", prefix.string() + "/", "-c", (prefix / "nginx.conf").string()});
  wait_in_epoll(n.pid());

  UpdatePointMap map = UpdatePointMap::load(nginx);
  REQUIRE(map.scopes_complete());
  REQUIRE(map.upoints().size() >= 1);
  REQUIRE(map.poller_paths() == std::vector<std::vector<std::string>>{
                                    {"ngx_process_events_and_timers", "ngx_epoll_process_events"}});
  Verdict v = check(n.pid(), map);
  MESSAGE("declared: " << v.message << " — " << (v.threads.empty() ? "" : v.threads[0].where));
  CHECK(v.quiescent);
  REQUIRE(v.threads.size() == 1);
  CHECK(v.threads[0].state == ThreadState::kQuiescent);
  CHECK(v.threads[0].function == "ngx_epoll_process_events");
  CHECK(v.threads[0].where.find("declared poller path") != std::string::npos);

  UpdatePointMap before = UpdatePointMap::load(undeclared);
  REQUIRE(before.poller_paths().empty());
  Verdict w = check(n.pid(), before);
  MESSAGE("undeclared: " << w.message);
  CHECK_FALSE(w.quiescent);
  REQUIRE(w.threads.size() == 1);
  CHECK(w.threads[0].state == ThreadState::kBlocked);
  CHECK(w.message.find("epoll_wait() called from ngx_epoll_process_events") != std::string::npos);

  // Unaware of the probes: it serves the first request of its life.
  const std::string reply = get(port);
  CHECK(reply.rfind("HTTP/1.1 200 OK", 0) == 0);
  CHECK(reply.find("Server: nginx/1.26.0") != std::string::npos);
  CHECK(reply.find("hello from nginx") != std::string::npos);
  wait_in_epoll(n.pid());
  CHECK(check(n.pid(), map).quiescent);  // and idle again afterwards
}
