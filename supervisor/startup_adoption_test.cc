// startup_adoption_test — v2's unmodified start-up (socket, setsockopt, bind,
// listen, fcntl O_NONBLOCK of the port P listens on) gets P's listening socket
// (startup_adoption.h), end to end with the shipped ttst-supervise against
// supervisor/tests/listener.c: the update commits and serves on the same port;
// --validate-only and a rollback leave P's socket exactly as it was (its backlog, as
// sock_diag reports it, and its file status flags, from P's /proc fdinfo); a v2
// binding another port gets its own socket; a v2 with another backlog has it set at
// the commit only.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/util/test_util.h"

namespace {

using ttst::testutil::tmpdir;
using ttst::testutil::await;
using ttst::testutil::listen_backlog;
// The bound of every await here (its conditions' worst case on a loaded box).
constexpr std::chrono::milliseconds kAwait{10000};

const std::string kSupervise = "supervisor/ttst-supervise";
const std::string kDir = "supervisor/tests/";

// A free port whose next port is free too: listener_v2_port binds PORT + 1.
int free_port() { return ttst::testutil::free_port_pair(1000); }

// One connection: the line the server answers ("" when it cannot connect).
std::string ask(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string line;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    char c;
    while (read(fd, &c, 1) == 1 && c != '\n') line += c;
  }
  close(fd);
  return line;
}

// The same over the UNIX stream socket at `path`.
std::string ask_unix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  std::string line;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    char c;
    while (read(fd, &c, 1) == 1 && c != '\n') line += c;
  }
  close(fd);
  return line;
}

// The inode of the file at `path` (0: none).
ino_t inode_of(const std::string& path) {
  struct stat st{};
  return lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}


// The "flags:" of /proc/PID/fdinfo/FD, as F_GETFL would give them in PID.
std::string fd_flags(pid_t pid, int fd) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd));
  std::string key, v;
  while (in >> key)
    if (key == "flags:" && in >> v) return v;
  return "";
}

struct Server {
  pid_t pid = -1;
  int port = 0;
  std::string unix_path;  // listening there instead of on a port
  explicit Server(const std::string& binary, const std::string& path = "") : port(free_port()), unix_path(path) {
    const std::string where = path.empty() ? std::to_string(port) : path;
    const std::string log = tmpdir() + "/listener.log";
    pid = fork();
    if (pid == 0) {
      int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(out, 1);
      dup2(out, 2);
      close(out);
      execl(binary.c_str(), binary.c_str(), where.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    REQUIRE(await([&] { return !(path.empty() ? ask(port) : ask_unix(path)).empty(); }, kAwait));  // listening and serving
  }
  ~Server() {
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
};

struct Run {
  int status = -1;
  nlohmann::json report;
};

Run supervise(pid_t pid, const std::string& v2, const std::string& extra = "") {
  const std::string cmd = "env XDG_CACHE_HOME=" + tmpdir() + "/cache " + kSupervise + " --json --report-dir " +
                          tmpdir() + "/reports --pid " + std::to_string(pid) + " --new " + kDir + v2 + " " + extra +
                          " 2>>" + tmpdir() + "/supervise.err";
  const ttst::testutil::Ran ran = ttst::testutil::run(cmd);
  Run r;
  r.status = ran.status;
  r.report = ttst::testutil::json_report(ran.out);
  MESSAGE(cmd << " -> " << r.status << "\n" << r.report.dump(1));
  return r;
}

// The report's startup_actions entry whose call starts with `call`.
nlohmann::json action(const Run& r, const std::string& call) {
  for (const auto& a : r.report["startup_actions"])
    if (a["call"].get<std::string>().rfind(call, 0) == 0) return a;
  return nullptr;
}

// SO_KEEPALIVE of descriptor `fd` of `pid`, read through a duplicate (pidfd_getfd).
int keepalive(pid_t pid, int fd) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  const int dup = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
  int v = -1;
  socklen_t len = sizeof v;
  if (getsockopt(dup, SOL_SOCKET, SO_KEEPALIVE, &v, &len) != 0) v = -1;
  close(dup);
  close(pidfd);
  return v;
}

// What P's socket is: its backlog, its flags and SO_KEEPALIVE from P's side (P's fd 3).
struct Socket {
  int backlog;
  std::string flags;
  int keepalive;
  bool operator==(const Socket&) const = default;
};
Socket socket_of(const Server& s) { return {listen_backlog(s.port), fd_flags(s.pid, 3), keepalive(s.pid, 3)}; }

}  // namespace

TEST_CASE("an unmodified start-up re-creating the listener commits and serves on the same port") {
  Server p(kDir + "listener_v1");
  CHECK(ask(p.port) == "v1 served=2");
  Run r = supervise(p.pid, "listener_v2");
  REQUIRE(r.status == 0);
  CHECK(action(r, "bind(")["action"] == "adopted");
  CHECK(action(r, "setsockopt(")["action"] == "already_so");  // SO_REUSEADDR, as P's
  CHECK(action(r, "listen(")["action"] == "already_so");  // the same backlog (sock_diag): not made
  CHECK(ask(p.port) == "v2 served=3");                      // the same socket, the state carried over
  CHECK(listen_backlog(p.port) == 16);
  ::kill(r.report["new_pid"].get<pid_t>(), SIGKILL);
}

TEST_CASE("--validate-only and rollbacks leave P's listening socket exactly as it was") {
  Server p(kDir + "listener_v1");
  const Socket before = socket_of(p);
  CHECK(before == Socket{16, "04002", 0});  // backlog 16, O_RDWR | O_NONBLOCK, no keep-alive
  for (const char* v2 : {"listener_v2", "listener_v2_backlog", "listener_v2_settings"}) {
    Run r = supervise(p.pid, v2, "--validate-only");
    CHECK(r.status == 0);
    CHECK(action(r, "listen(")["action"] == (v2 == std::string("listener_v2_backlog") ? "held_back" : "already_so"));
    CHECK(socket_of(p) == before);
  }
  // v2's start-up accepts on the socket it adopted: refused before it is made.
  Run r = supervise(p.pid, "listener_v2_accept");
  CHECK(r.status == 1);
  CHECK(r.report["reason"] == "startup_side_effect");
  CHECK(r.report["message"].get<std::string>().find("accept") != std::string::npos);
  CHECK(socket_of(p) == before);
  CHECK(ask(p.port) == "v1 served=2");  // P serves on; nothing was taken from its queue
}

TEST_CASE("a v2 listening with another backlog has it set at the commit") {
  Server p(kDir + "listener_v1");
  Run r = supervise(p.pid, "listener_v2_backlog");
  REQUIRE(r.status == 0);
  CHECK(action(r, "listen(")["call"] == "listen(4, 64)");
  CHECK(action(r, "listen(")["action"] == "made_at_commit");
  CHECK(listen_backlog(p.port) == 64);
  CHECK(ask(p.port) == "v2 served=2");
  ::kill(r.report["new_pid"].get<pid_t>(), SIGKILL);
}

TEST_CASE("a v2 wanting other flags and options on the socket has them made at the commit only") {
  Server p(kDir + "listener_v1");
  Run r = supervise(p.pid, "listener_v2_settings", "--validate-only");
  CHECK(r.status == 0);
  CHECK(action(r, "ioctl(4, FIONBIO, 0)")["action"] == "held_back");
  CHECK(action(r, "setsockopt(4, 1, 9)")["action"] == "held_back");  // SO_KEEPALIVE
  CHECK(socket_of(p) == Socket{16, "04002", 0});
  r = supervise(p.pid, "listener_v2_settings");
  REQUIRE(r.status == 0);
  CHECK(action(r, "ioctl(4, FIONBIO, 0)")["action"] == "made_at_commit");
  CHECK(action(r, "setsockopt(4, 1, 9)")["action"] == "made_at_commit");
  const pid_t f = r.report["new_pid"].get<pid_t>();
  CHECK(fd_flags(f, 4) == "02");  // blocking now, as v2 asked
  CHECK(keepalive(f, 4) == 1);
  CHECK(ask(p.port) == "v2 served=2");
  ::kill(f, SIGKILL);
}

TEST_CASE("a v2 binding another port gets its own new socket") {
  Server p(kDir + "listener_v1");
  Run r = supervise(p.pid, "listener_v2_port");
  REQUIRE(r.status == 0);
  CHECK(action(r, "bind(") == nullptr);  // nothing adopted (the entries left name P's descriptors)
  CHECK(ask(p.port + 1) == "v2 served=2");
  CHECK(listen_backlog(p.port + 1) == 16);
  ::kill(r.report["new_pid"].get<pid_t>(), SIGKILL);
}

TEST_CASE("a UNIX stream listener: v2's unlink of its path is not made, its bind adopts the socket") {
  // sun_path holds 107 bytes: Bazel's TEST_TMPDIR is too long for it.
  const std::string path = "/tmp/ttst-listener-" + std::to_string(getpid()) + ".sock";
  Server p(kDir + "listener_v1", path);
  const ino_t file = inode_of(path);
  REQUIRE(file != 0);
  Run r = supervise(p.pid, "listener_v2", "--validate-only");
  CHECK(r.status == 0);
  CHECK(action(r, "unlink(")["action"] == "not_made");
  CHECK(action(r, "bind(")["action"] == "adopted");
  CHECK(action(r, "listen(")["action"] == "already_so");  // UNIX sock_diag: the same backlog
  CHECK(inode_of(path) == file);  // the path is still P's socket
  CHECK(ask_unix(path) == "v1 served=2");
  r = supervise(p.pid, "listener_v2");
  REQUIRE(r.status == 0);
  CHECK(inode_of(path) == file);
  CHECK(ask_unix(path) == "v2 served=3");
  ::kill(r.report["new_pid"].get<pid_t>(), SIGKILL);
  unlink(path.c_str());
}
