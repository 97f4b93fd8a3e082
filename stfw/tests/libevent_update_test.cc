// libevent_update_test — the libevent adapter (stfw/xfer/libevent_adapter.h) end to
// end with the shipped ttst-supervise against stfw/tests/programs/evserver: a
// server whose connections exist only as libevent registrations (like memcached's),
// whose timer is a global struct event and whose base is libevent's object.
// Committed: connections held open across the update are served by v2 (whose
// struct conn moved the embedded event), the timers keep firing (one re-added by its
// callback, one persistent), new connections
// are accepted. --validate-only leaves P serving them. A v2 whose base cannot take
// P's registrations (one priority queue) rolls back and P serves on. Connections
// whose allocation site types nothing are typed by the live event they embed. A
// heap table of per-worker bases (as memcached 1.6's threads) pairs each of P's
// bases with v2's base at the same entry of the start-up table it replaces.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>
#include <filesystem>

#include "tests/util/test_util.h"

namespace {

using ttst::testutil::tmpdir;
using ttst::testutil::await;
using ttst::testutil::free_port;
// The bound of every await here (its conditions' worst case on a loaded box).
constexpr std::chrono::milliseconds kAwait{20000};
constexpr std::chrono::milliseconds kPoll{5};  // its polling interval

const std::string kSupervise = "supervisor/ttst-supervise";
const std::string kDir = "stfw/tests/programs/evserver/";

// One client connection, held open; "" from ask() when it got no answer in 20 s
// (a connection v2 does not serve would hang forever without the bound).
struct Client {
  int fd = -1;
  explicit Client(int port) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) close(fd), fd = -1;
  }
  ~Client() {
    if (fd >= 0) close(fd);
  }
  std::string ask(const std::string& request = "PING") {
    std::string line;
    const std::string out = request + "\n";
    if (fd < 0 || write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) return line;
    char c;
    while (read(fd, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }
};

// "v2 ticks=57 served=3 beats=40" -> its parts.
struct Answer {
  int version = 0;
  long ticks = -1, served = -1, beats = -1, wakes = -1;
};
Answer parse(const std::string& line) {
  Answer a;
  std::sscanf(line.c_str(), "v%d ticks=%ld served=%ld beats=%ld wakes=%ld", &a.version, &a.ticks, &a.served,
              &a.beats, &a.wakes);
  return a;
}

struct Server {
  pid_t pid = -1;
  int port = free_port();
  explicit Server(const std::string& binary) {
    pid = fork();
    if (pid == 0) {
      int out = open((tmpdir() + "/evserver.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(out, 1);
      dup2(out, 2);
      close(out);
      execl(binary.c_str(), binary.c_str(), std::to_string(port).c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    REQUIRE(await([&] { return Client(port).fd >= 0; }, kAwait, kPoll));
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
  const std::string cmd = "env XDG_CACHE_HOME=" + tmpdir() + "/cache " + kSupervise + " --json --timeout 20s" +
                          " --report-dir " + tmpdir() + "/reports --pid " + std::to_string(pid) + " --new " + kDir +
                          v2 + " " + extra + " 2>>" + tmpdir() + "/supervise.err";
  const ttst::testutil::Ran ran = ttst::testutil::run(cmd);
  Run r;
  r.status = ran.status;
  r.report = ttst::testutil::json_report(ran.out);
  MESSAGE(cmd << " -> " << r.status << "\n" << r.report.dump(1));
  return r;
}

// Three connections opened and served once (served=1) by version `v`.
std::vector<std::unique_ptr<Client>> hold_three(int port, int v) {
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<Client>(port));
    Answer a = parse(held.back()->ask());
    CHECK(a.version == v);
    CHECK(a.served == 1);
  }
  return held;
}

}  // namespace

TEST_CASE("connections held open across the update are served by v2 and the timer keeps firing") {
  Server p(kDir + "evserver_v1");
  auto held = hold_three(p.port, 1);
  const long ticks_before = parse(held[0]->ask()).ticks;  // served=2
  Run r = supervise(p.pid, "evserver_v2");
  REQUIRE(r.status == 0);
  const pid_t f = r.report["new_pid"].get<pid_t>();
  for (auto& c : held) {  // each connection known only to P's libevent: served by v2, its count carried over
    Answer a = parse(c->ask());
    CHECK(a.version == 2);
    CHECK(a.served == (c == held[0] ? 3 : 2));
    CHECK(a.ticks >= ticks_before);  // the counter carried over
  }
  const Answer after = parse(held[1]->ask());
  CHECK(await([&] { return parse(held[2]->ask()).ticks > after.ticks + 5; }, kAwait, kPoll));  // the timer fires in v2
  CHECK(await([&] { return parse(held[2]->ask()).beats > after.beats + 5; }, kAwait, kPoll));  // the persistent one too
  Client fresh(p.port);  // the listener's registration too
  Answer a = parse(fresh.ask());
  CHECK(a.version == 2);
  CHECK(a.served == 1);
  CHECK(held[0]->ask("QUIT").empty());  // a connection closed by v2 (its event deleted from v2's base)
  CHECK(parse(held[1]->ask()).version == 2);
  // P's libevent epoll instance, named by the adapter (past_library_fds), closed in F
  // at the commit: F keeps only its own.
  bool closed = false;
  for (const auto& a : r.report["startup_actions"])
    closed = closed || (a["action"] == "closed_at_commit" &&
                        a["call"].get<std::string>().find("anon_inode:[eventpoll]") != std::string::npos);
  CHECK(closed);
  int epolls = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(f) + "/fd")) {
    std::error_code ec;
    epolls += std::filesystem::read_symlink(e.path(), ec).string() == "anon_inode:[eventpoll]";
  }
  CHECK(epolls == 1);
  ::kill(f, SIGKILL);
}

TEST_CASE("--validate-only leaves P serving its connections; then the update commits") {
  Server p(kDir + "evserver_v1");
  auto held = hold_three(p.port, 1);
  for (int i = 0; i < 2; ++i) {
    Run r = supervise(p.pid, "evserver_v2", "--validate-only");
    CHECK(r.status == 0);
    for (auto& c : held) CHECK(parse(c->ask()).version == 1);
  }
  const long ticks = parse(held[0]->ask()).ticks;
  CHECK(await([&] { return parse(held[1]->ask()).ticks > ticks + 5; }, kAwait, kPoll));  // P's timer still fires
  Run r = supervise(p.pid, "evserver_v2");
  REQUIRE(r.status == 0);
  for (auto& c : held) {
    Answer a = parse(c->ask());
    CHECK(a.version == 2);
    CHECK(a.served >= 4);
  }
  ::kill(r.report["new_pid"].get<pid_t>(), SIGKILL);
}

TEST_CASE("a v2 whose libevent base cannot take P's registrations rolls back, naming the event") {
  Server p(kDir + "evserver_v1");
  auto held = hold_three(p.port, 1);
  Run r = supervise(p.pid, "evserver_v2_onequeue");
  CHECK(r.status == 1);
  const std::string text = r.report.dump();
  CHECK(text.find("event_priority_set failed") != std::string::npos);
  CHECK(text.find("libevent event") != std::string::npos);
  for (auto& c : held) {
    Answer a = parse(c->ask());
    CHECK(a.version == 1);
    CHECK(a.served == 2);
  }
  CHECK(parse(Client(p.port).ask()).version == 1);
}

TEST_CASE("connections whose allocation site types nothing are typed by the live event they embed") {
  Server p(kDir + "evserver_apart_v1");  // the listener is a global struct event: no typed conn anywhere
  auto held = hold_three(p.port, 1);
  Run r = supervise(p.pid, "evserver_apart_v2");
  REQUIRE(r.status == 0);
  for (auto& c : held) {
    Answer a = parse(c->ask());
    CHECK(a.version == 2);
    CHECK(a.served == 2);
  }
  CHECK(parse(Client(p.port).ask()).version == 2);
  ::kill(r.report["new_pid"].get<pid_t>(), SIGKILL);
}

TEST_CASE("a heap table of per-worker bases: each of P's bases paired with v2's at the same entry") {
  Server p(kDir + "evserver_bases_v1");
  auto held = hold_three(p.port, 1);  // on workers 0, 1, 0
  std::vector<Answer> before;
  for (auto& c : held) before.push_back(parse(c->ask()));
  // Worker 0's timer fires every 5 ms from start-up, and the three round trips can all
  // come before its first firing on a fast machine: ask until it has fired, so that the
  // carried-over count below means something.
  CHECK(await([&] { return (before[0] = parse(held[0]->ask())).wakes > 0; }, kAwait, kPoll));
  Run r = supervise(p.pid, "evserver_bases_v2");
  REQUIRE_MESSAGE(r.status == 0, r.report.dump());
  for (size_t i = 0; i < held.size(); ++i) {  // served by v2 through the base of its worker, counts carried over
    Answer a = parse(held[i]->ask());
    CHECK(a.version == 2);
    CHECK(a.served == before[i].served + 1);
    CHECK(a.wakes >= before[i].wakes);
  }
  // Each worker's timer, re-registered in v2's base of that worker, fires on.
  const long w1 = parse(held[1]->ask()).wakes;
  CHECK(await([&] { return parse(held[1]->ask()).wakes > w1 + 5; }, kAwait, kPoll));
  CHECK(parse(Client(p.port).ask()).version == 2);  // the listener too
  ::kill(r.report["new_pid"].get<pid_t>(), SIGKILL);
}
