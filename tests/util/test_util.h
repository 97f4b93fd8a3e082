// test_util.h — small helpers shared by the integration tests (supervisor/,
// stfw/tests, tests/programs): the test's temp directory, a bounded poll of a
// condition, free loopback TCP ports and a listener's backlog, a command run with its output captured, its
// JSON report read. Every wait takes its bound from the caller:
// nothing here can loop forever.
#pragma once

#include <chrono>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

namespace ttst::testutil {

// Bazel's per-test temporary directory (TEST_TMPDIR); /tmp outside Bazel.
std::string tmpdir();

// Polls `condition` every `poll` until it holds (true) or `bound` has passed (false).
// The poll is an interval, not a synchronisation sleep: the condition is the wait.
template <class F>
bool await(F condition, std::chrono::milliseconds bound,
           std::chrono::milliseconds poll = std::chrono::milliseconds(2)) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

// True when 127.0.0.1:port can be bound now (0: any port); *bound gets the port.
bool bindable(int port, int* bound = nullptr);
// A port nothing listens on now (the kernel's choice for an ephemeral bind);
// throws std::runtime_error when the bind fails.
int free_port();
// A free port whose next port is free too (a v2 binding PORT + 1); throws
// std::runtime_error when none is found in `attempts` tries.
int free_port_pair(int attempts);
// The backlog of the TCP listener on 127.0.0.1:port (sock_diag: idiag_wqueue of a
// listening socket is its backlog, as `ss -lt` shows in Send-Q); -1 if none.
int listen_backlog(int port);

// A line-protocol TCP client of 127.0.0.1:port (kvserver's commands) whose every
// reply is awaited at most `reply_bound`: a server that does not answer fails the
// test quickly, not by its time limit. Replies come without their newline; a lost
// connection, an EOF or the bound passing give "(connection lost)", "(closed)",
// "(no reply in N s)" after what was read.
class LineClient {
 public:
  LineClient(int port, std::chrono::seconds reply_bound);  // throws std::runtime_error when it cannot connect
  ~LineClient();
  LineClient(const LineClient&) = delete;
  LineClient& operator=(const LineClient&) = delete;
  std::string command(const std::string& line);
  std::string set(const std::string& key, const std::string& value) { return command("SET " + key + " " + value); }
  std::string get(const std::string& key) { return command("GET " + key); }

 private:
  int fd_;
  std::chrono::seconds bound_;
};

// A shell command's exit status (-1 when a signal ended it) and its stdout.
struct Ran {
  int status = -1;
  std::string out;
};
// Runs `command` through the shell (popen) until it ends, its stdout captured (the
// command redirects its stderr itself); throws std::runtime_error when it cannot start.
Ran run(const std::string& command);
// A file's contents ("" when it cannot be read).
std::string slurp(const std::string& path);
// The JSON document a `--json` command printed (null when it printed nothing).
nlohmann::json json_report(const std::string& out);

// One run of the shipped `supervisor/ttst-supervise --json` (a runfiles path) on
// `pid` with `new_exe`, its reports and metadata cache under tmpdir(); `extra`
// options follow. The command and its stderr are echoed to this test's stderr.
struct Supervised {
  int status = -1;        // its exit status
  nlohmann::json report;  // the JSON report it printed (null: none)
  std::string err;        // its stderr
};
Supervised supervise(int pid, const std::string& new_exe, const std::string& extra = "");

}  // namespace ttst::testutil
