// grace_period_test — the safety net after the commit (grace_period.h), end to end
// with the shipped ttst-supervise against kvserver: a v2 that crashes 100 ms after
// the commit and one that hangs are rolled back to P, which serves its state as
// before, with the connections v2 read from closed and listed, the requests v2
// acknowledged named as possibly lost, P's epoll registration that v2 removed put
// back, and the pid file and the service manager still naming P; the settings a
// v2's held-back calls gave P's listener at the commit put back; P's buffered
// output left to P; a healthy v2 is kept and P, stopped meanwhile, is ended after
// the period. (The supervisor killed during the period: supervise_test.)
#include <doctest/doctest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "inject/sys/proc_status.h"
#include "tests/programs/kvserver/kv_client.h"
#include "tests/util/test_util.h"

namespace fs = std::filesystem;
using ttst::sys::proc_status_field;
using ttst::test::KvClient;
using ttst::test::KvServer;

namespace {

using ttst::testutil::tmpdir;
using ttst::testutil::await;
using ttst::testutil::listen_backlog;
using ttst::testutil::free_port;
// The bound of every await here (its conditions' worst case on a loaded box).
constexpr std::chrono::milliseconds kAwait{20000};

const std::string kSupervise = "supervisor/ttst-supervise";
const std::string kV1 = "tests/programs/kvserver/kvserver_v1";
const std::string kV2 = "tests/programs/kvserver/kvserver_v2";
const std::string kCrash = "supervisor/tests/after_commit_crash_v2";
const std::string kHang = "supervisor/tests/after_commit_hang_v2";

bool traced(pid_t pid) {
  std::string t = proc_status_field(pid, "TracerPid");
  return !t.empty() && t != "0";
}

// ttst-supervise started in the background; its JSON report read at the end.
struct Background {
  pid_t pid = -1;
  std::string out = tmpdir() + "/grace-" + std::to_string(getpid()) + ".json";
  explicit Background(const std::string& args) {
    pid = fork();
    if (pid == 0) {
      std::string cmd = "exec env XDG_CACHE_HOME=" + tmpdir() + "/cache " + kSupervise + " --json --report-dir " +
                        tmpdir() + "/reports " + args + " >" + out + " 2>" + out + ".err";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  int st = -1;
  bool exited() { return st != -1 || waitpid(pid, &st, WNOHANG) == pid; }
  // Waits for it; its exit status and report.
  std::pair<int, nlohmann::json> finish() {
    if (st == -1) waitpid(pid, &st, 0);
    const std::string text = ttst::testutil::slurp(out), e = ttst::testutil::slurp(out + ".err");
    MESSAGE("ttst-supervise -> " << st << "\n" << e);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, ttst::testutil::json_report(text)};
  }
};

// The pid of a process running `exe_name` traced by `tracer`, or 0.
pid_t traced_by(pid_t tracer, const std::string& exe_name) {
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code e2;
    if (fs::read_symlink(it->path() / "exe", e2).filename().string() == exe_name &&
        proc_status_field(std::stoi(name), "TracerPid") == std::to_string(tracer))
      return std::stoi(name);
  }
  return 0;
}

// A raw client connection: send a line, read what comes back (up to EOF).
struct Conn {
  int fd = -1;
  explicit Conn(int port) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Conn() { close(fd); }
  void send(const std::string& s) { REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size())); }
  std::string line() {
    std::string l;
    char c;
    while (::recv(fd, &c, 1, 0) == 1 && c != '\n') l += c;
    return l;
  }
  bool at_end() {
    char c;
    return ::recv(fd, &c, 1, 0) == 0;
  }
};

std::string link_of(const std::string& path) {
  std::error_code ec;
  return fs::read_symlink(path, ec).string();
}

// "socket:[N]" of every socket descriptor of `pid`.
std::set<std::string> sockets_of(pid_t pid) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    if (std::string l = link_of(it->path().string()); l.rfind("socket:[", 0) == 0) out.insert(l);
  return out;
}

// The rollback after the commit, for the crashing and the hanging v2.
void check_rolled_back_after_commit(const std::string& v2, const std::string& reason) {
  std::string sock = "/tmp/ttst-grace-" + std::to_string(getpid()) + ".sock";  // sun_path holds 107 bytes
  ::unlink(sock.c_str());
  int notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, sock.c_str(), sizeof sa.sun_path - 1);
  REQUIRE(bind(notify, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  setenv("NOTIFY_SOCKET", sock.c_str(), 1);
  KvServer server = KvServer::start(kV1);
  unsetenv("NOTIFY_SOCKET");
  std::string stats;
  {
    KvClient c(server.port);
    for (int i = 0; i < 50; ++i) REQUIRE(c.set("key" + std::to_string(i), "value" + std::to_string(i)) == "OK");
    stats = c.command("STATS");
  }
  const std::string pidfile = tmpdir() + "/grace.pid";
  std::ofstream(pidfile) << server.pid << "\n";
  Conn setter(server.port), quitter(server.port);  // accepted by P before the update
  for (Conn* conn : {&setter, &quitter}) {
    conn->send("VERSION\n");
    REQUIRE(conn->line() == "VERSION 1");
  }
  std::set<std::string> connections = sockets_of(server.pid);  // the listener, then the two
  REQUIRE(connections.size() == 3);
  connections.erase(link_of("/proc/" + std::to_string(server.pid) + "/fd/3"));  // kvserver's listener
  REQUIRE(connections.size() == 2);
  Background sup("--pid " + std::to_string(server.pid) + " --new " + v2 +
                 " --allow-different-program --grace 5s --pidfile " + pidfile);
  // F exists (created, not yet at its loop): requests sent now reach v2 after the
  // commit, P being stopped since the quiesce phase.
  REQUIRE(await([&] { return traced(server.pid) && traced_by(sup.pid, fs::path(v2).filename()) != 0; }, kAwait));
  setter.send("SET during v2\n");
  quitter.send("QUIT\n");  // v2 answers BYE and removes P's registration of it (epoll_ctl DEL)
  CHECK(setter.line() == "OK");   // acknowledged by v2
  CHECK(quitter.line() == "BYE");
  auto [status, report] = sup.finish();
  INFO(report.dump(2));
  CHECK(status == 1);
  CHECK(report["outcome"] == "rolled_back_after_commit");
  CHECK(report["reason"] == reason);
  CHECK(report["new_pid"] == 0);  // P serves again, nothing new
  if (reason == "crash") {
    CHECK(report["crash"]["process"] == "future");
    CHECK(report["crash"]["signal"] == SIGSEGV);
  } else {
    CHECK(report["grace"]["verdict"] == "hung");
  }
  const std::string message = report["message"];
  CHECK(message.find("possibly lost") != std::string::npos);
  CHECK(report["grace"]["connections"].size() == 2);
  for (const auto& c : report["grace"]["connections"]) {
    CHECK(c["read"] == true);
    CHECK(c["replied"] == true);
    CHECK(c["closed"].get<std::string>().rfind("closed", 0) == 0);
  }
  bool added_back = false;
  for (const auto& line : report["grace"]["restored"])
    added_back |= line.get<std::string>().find("added back") != std::string::npos;
  CHECK(added_back);  // the QUIT connection's registration in P's epoll instance
  // P resumed, untraced, with its state as before the update: v2's SET is gone.
  CHECK(kill(server.pid, 0) == 0);
  CHECK(await([&] { return !traced(server.pid); }, kAwait));
  KvClient c(server.port);
  CHECK(c.command("STATS") == stats);
  CHECK(c.command("VERSION") == "VERSION 1");
  for (int i = 0; i < 50; ++i) CHECK(c.get("key" + std::to_string(i)) == "VALUE value" + std::to_string(i));
  CHECK(c.get("during") == "NOT_FOUND");
  // The connections v2 read from end for their clients; P closes both itself (the
  // QUIT one only because its registration was put back).
  CHECK(setter.at_end());
  CHECK(quitter.at_end());
  // P closes both itself (the QUIT one only because the registration v2 had
  // removed from P's epoll instance was put back). Followed by socket, not by
  // number: P reuses the numbers for the connections accepted since.
  CHECK(await([&] {
    for (const std::string& socket : sockets_of(server.pid))
      if (connections.count(socket)) return false;
    return true;
  }, kAwait));
  // The pid file and the service manager still name P: the survivor.
  std::ifstream pf(pidfile);
  pid_t written = 0;
  pf >> written;
  CHECK(written == server.pid);
  char buf[64];
  CHECK(recv(notify, buf, sizeof buf, MSG_DONTWAIT) < 0);
  close(notify);
  ::unlink(sock.c_str());
  server.kill_and_wait();
}

// ---- P's listening socket: what v2's held-back calls change at the commit ----

// One connection to the listener test program: the line it answers ("" if none).
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


// P's listener (fd 3) as P sees it: backlog, fdinfo flags, SO_KEEPALIVE.
std::string socket_state(pid_t pid, int port) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/fdinfo/3");
  std::string key, flags;
  while (in >> key)
    if (key == "flags:" && in >> flags) break;
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  const int dup = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, 3, 0));
  int keep = -1;
  socklen_t len = sizeof keep;
  getsockopt(dup, SOL_SOCKET, SO_KEEPALIVE, &keep, &len);
  close(dup);
  close(pidfd);
  return "backlog " + std::to_string(listen_backlog(port)) + " flags " + flags + " keepalive " + std::to_string(keep);
}

}  // namespace

TEST_CASE("a v2 that crashes after the commit: the settings its held-back calls gave P's listener are put back") {
  const int port = free_port();
  const pid_t p = fork();
  if (p == 0) {
    int out = open((tmpdir() + "/listener.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(out, 1), dup2(out, 2), close(out);
    const std::string where = std::to_string(port);
    execl("supervisor/tests/listener_v1", "listener_v1", where.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  REQUIRE(await([&] { return !ask(port).empty(); }, kAwait));  // listening and serving
  CHECK(ask(port) == "v1 served=2");
  const std::string before = socket_state(p, port);
  Background sup("--pid " + std::to_string(p) + " --new supervisor/tests/listener_v2_settings_crash "
                 "--allow-different-program --grace 5s");
  // v2 crashes in the poll after the first one past the commit that returns a
  // connection 100 ms later: clients keep coming until the attempt ends.
  while (!sup.exited()) {
    ask(port);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a client's pace, not a wait
  }
  auto [status, report] = sup.finish();
  INFO(report.dump(2));
  CHECK(status == 1);
  CHECK(report["outcome"] == "rolled_back_after_commit");
  int made = 0;
  for (const auto& a : report["startup_actions"]) made += a["action"] == "made_at_commit";
  CHECK(made == 3);  // blocking, SO_KEEPALIVE, listen(64): changes to P's socket
  CHECK(await([&] { return !traced(p); }, kAwait));
  CHECK(socket_state(p, port) == before);
  CHECK(ask(port).rfind("v1 served=", 0) == 0);  // P serves on, with its socket as before the update
  kill(p, SIGKILL);
  waitpid(p, nullptr, 0);
}

TEST_CASE("a v2 that crashes 100 ms after the commit: P resumes with its state, what v2 served is listed") {
  check_rolled_back_after_commit(kCrash, "crash");
}

TEST_CASE("a v2 that hangs 100 ms after the commit: P resumes with its state, what v2 served is listed") {
  check_rolled_back_after_commit(kHang, "hang");
}

TEST_CASE("a healthy v2 is kept; P, stopped during the grace period, is ended after it") {
  KvServer server = KvServer::start(kV1);
  {
    KvClient c(server.port);
    for (int i = 0; i < 20; ++i) REQUIRE(c.set("k" + std::to_string(i), "v" + std::to_string(i)) == "OK");
  }
  const pid_t p = server.pid;
  Background sup("--pid " + std::to_string(p) + " --new " + kV2 + " --grace 3s");
  // v2 answers while P still exists, stopped (traced): the grace period.
  REQUIRE(await([&] { return traced(p) && traced_by(sup.pid, "kvserver_v2") != 0; }, kAwait));
  {
    KvClient c(server.port);
    CHECK(c.command("VERSION") == "VERSION 2");  // accepted by v2 on P's listener
    CHECK(c.get("k3") == "VALUE v3");
  }
  const std::string state = proc_status_field(p, "State");
  const bool grace_running = traced(p);  // the supervisor still holds P while v2 serves
  auto [status, report] = sup.finish();
  INFO(report.dump(2));
  CHECK(grace_running);
  CHECK(state.rfind("t", 0) == 0);  // P stopped (tracing stop), not ended
  CHECK(status == 0);
  CHECK(report["outcome"] == "committed");
  CHECK(report["grace"]["verdict"] == "healthy");
  CHECK(report["grace"]["health"] == "idle at its loop's wait");
  CHECK(report["grace"]["accepted"].get<int>() >= 1);
  int st = 0;
  CHECK(waitpid(p, &st, 0) == p);  // P ended after the period
  server.pid = report["new_pid"].get<pid_t>();
  KvClient c(server.port);
  CHECK(c.command("VERSION") == "VERSION 2");
  for (int i = 0; i < 20; ++i) CHECK(c.get("k" + std::to_string(i)) == "VALUE v" + std::to_string(i));
  server.kill_and_wait();
}

TEST_CASE("a v2 that exits within the grace period: P's buffered output is not written for it, nor twice") {
  // logger_v1 buffers its lines (stdout is a file); logger_v2 prints 20 lines and
  // exits, which the grace period takes for a failure. P's buffer must stay P's:
  // written at the commit and then again by the resumed P, lines would repeat.
  const std::string path = tmpdir() + "/grace-logger-" + std::to_string(getpid()) + ".out";
  const pid_t p = fork();
  if (p == 0) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    execl("supervisor/tests/logger_v1", "logger_v1", static_cast<char*>(nullptr));
    _exit(127);
  }
  REQUIRE(await([&] {  // 30 lines printed (a 5 ms sleep each), most still in its buffer
    std::string n = proc_status_field(p, "voluntary_ctxt_switches");
    return !n.empty() && std::stol(n) >= 30;
  }, kAwait));
  Background sup("--pid " + std::to_string(p) + " --new supervisor/tests/logger_v2 --grace 5s");
  auto [status, report] = sup.finish();
  INFO(report.dump(2));
  CHECK(status == 1);
  CHECK(report["outcome"] == "rolled_back_after_commit");
  CHECK(report["grace"]["verdict"] == "exited");
  // P goes on: wait until its buffer has been written out a few times.
  long v1_lines = 0, v2_lines = 0, expect = 0;
  bool in_order = true;
  REQUIRE(await([&] {
    std::ifstream file(path);
    std::string text(std::istreambuf_iterator<char>(file), {}), line;
    std::istringstream in(text.substr(0, text.rfind('\n') + 1));  // whole lines only
    v1_lines = v2_lines = expect = 0;
    in_order = true;
    while (std::getline(in, line)) {
      long n = -1;
      int v = 0;
      if (std::sscanf(line.c_str(), "v%d line %ld", &v, &n) != 2) continue;  // a partial last line
      if (v == 2) {
        ++v2_lines;
        continue;
      }
      in_order &= n == expect++;  // v1's lines: each once, in order
      ++v1_lines;
    }
    return v1_lines >= 600;
  }, kAwait));
  CHECK(in_order);
  CHECK(v2_lines == 20);
  kill(p, SIGKILL);
  waitpid(p, nullptr, 0);
}
