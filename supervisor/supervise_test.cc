// supervise_test — ttst-supervise end to end against a live kvserver driven over
// TCP: every refusal (exit 2, P untouched and still serving), every rollback (exit 1,
// P still serving its data, report with the right reason), the supervisor killed
// mid-transaction, and the commit mechanics (F serves, P ended, pid file rewritten).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "dwarfmeta/elf_file.h"
#include "inject/sys/proc_status.h"
#include "tests/programs/kvserver/kv_client.h"
#include "tests/util/test_util.h"

namespace fs = std::filesystem;
using ttst::test::KvClient;
using ttst::test::KvServer;

namespace {

using ttst::testutil::tmpdir;
using ttst::testutil::await;
// The bound of every await here (its conditions' worst case on a loaded box).
constexpr std::chrono::milliseconds kAwait{10000};

// The shipped supervisor, and its test variant (test hooks from TTST_SUPERVISE_TEST_*,
// the test agent: supervise_testing_main.cc).
const std::string kSupervise = "supervisor/ttst-supervise";
const std::string kSuperviseTesting = "supervisor/ttst-supervise-testing";
const std::string kV1 = "tests/programs/kvserver/kvserver_v1";
const std::string kV2 = "tests/programs/kvserver/kvserver_v2";
const std::string kTests = "supervisor/tests/";
// crash_v2, exit_v2, no_upoint_v2 and semantic_v2 stand in for a new version of
// kvserver without being one: the identity rule (identity.h) is overridden for them.
const std::string kStandIn = " --allow-different-program";

struct Run {
  int status = -1;
  nlohmann::json report;
  std::string err;
  size_t reports_written = 0;
};

size_t count_reports(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->path().extension() == ".json") ++n;
  return n;
}

// Runs ttst-supervise (`binary`) --json with `args`; `env` is prepended ("VAR=x ").
Run supervise(const std::string& args, const std::string& env = "", const std::string& binary = kSupervise) {
  std::string dir = tmpdir() + "/reports";
  std::string errf = tmpdir() + "/supervise.err";
  size_t before = count_reports(dir);
  std::string cmd = "env XDG_CACHE_HOME=" + tmpdir() + "/cache " + env + " " + binary +
                    " --json --report-dir " + dir + " " + args + " 2>" + errf;
  const ttst::testutil::Ran ran = ttst::testutil::run(cmd);
  Run r;
  r.status = ran.status;
  r.err = ttst::testutil::slurp(errf);
  r.report = ttst::testutil::json_report(ran.out);
  r.reports_written = count_reports(dir) - before;
  MESSAGE(env << " " << binary << " " << args << " -> " << r.status << "\n" << r.err);
  return r;
}

// Runs `command` through the shell; its exit status and output (stdout and stderr).
std::pair<int, std::string> run_command(const std::string& command) {
  const ttst::testutil::Ran ran = ttst::testutil::run(command + " 2>&1");
  MESSAGE(command << " -> " << ran.status << "\n" << ran.out);
  return {ran.status, ran.out};
}

// The same with the test variant, whose test hooks `env` sets.
Run supervise_testing(const std::string& args, const std::string& env) { return supervise(args, env, kSuperviseTesting); }

using ttst::sys::proc_status_field;

bool traced(pid_t pid) {
  std::string t = proc_status_field(pid, "TracerPid");
  return !t.empty() && t != "0";
}

// The names of the report's phases, in order.
std::vector<std::string> phase_names(const Run& r) {
  std::vector<std::string> names;
  for (const auto& p : r.report["phases"]) names.push_back(p["name"]);
  return names;
}

std::string pid_args(pid_t pid, const std::string& v2) {
  return "--pid " + std::to_string(pid) + " --new " + v2;
}

// kvserver v1 holding a few keys.
struct Filled {
  KvServer server;
  Filled() : server(KvServer::start(kV1)) {
    KvClient c(server.port);
    for (int i = 0; i < 50; ++i) REQUIRE(c.set("key" + std::to_string(i), "value" + std::to_string(i)) == "OK");
  }
  ~Filled() { server.kill_and_wait(); }
  // P still serves every key it held, and nobody traces it.
  void check_serving() {
    KvClient c(server.port);
    for (int i = 0; i < 50; ++i) CHECK(c.get("key" + std::to_string(i)) == "VALUE value" + std::to_string(i));
    CHECK(c.set("after", "yes") == "OK");
    CHECK(c.get("after") == "VALUE yes");
    CHECK(proc_status_field(server.pid, "TracerPid") == "0");
  }
};

void check_refused(const Run& r) {
  CHECK(r.status == 2);
  CHECK(r.report["outcome"] == "refused");
  CHECK(r.reports_written == 1);
  CHECK(r.err.find("ttst-supervise: refused: ") != std::string::npos);
}

void check_rolled_back(const Run& r, const std::string& reason) {
  CHECK(r.status == 1);
  CHECK(r.report["outcome"] == "rolled_back");
  CHECK(r.report["reason"] == reason);
  CHECK(r.reports_written == 1);
  CHECK(r.err.find("ttst-supervise: rolled_back: ") != std::string::npos);
}

// A process started with its stdout piped; waits for its first line.
pid_t spawn_ready(const std::vector<std::string>& argv) {
  int p[2], in[2];
  REQUIRE(pipe(p) == 0);
  REQUIRE(pipe(in) == 0);  // stdin stays open (its write end is kept) and silent
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(p[1], 1);
    close(p[0]);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  close(p[1]);
  char c;
  while (read(p[0], &c, 1) == 1 && c != '\n') {
  }
  // Both pipes stay open (leaked to the end of the test process): a version that
  // writes its banner again (F starting up) must not get SIGPIPE.
  return pid;
}

void end(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

}  // namespace

TEST_CASE("refused: no such pid") {
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  Run r = supervise(pid_args(gone, kV2));
  check_refused(r);
  CHECK(r.report["reason"] == "bad_input");
  CHECK(r.report["message"].get<std::string>().find("no process with pid") != std::string::npos);
}

TEST_CASE("refused: a pid already traced by another tracer") {
  Filled kv;
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t tracer = fork();
  if (tracer == 0) {
    char ok = ptrace(PTRACE_SEIZE, kv.server.pid, nullptr, nullptr) == 0 ? 'y' : 'n';
    (void)!write(p[1], &ok, 1);
    for (;;) pause();
  }
  char ok = 0;
  REQUIRE(read(p[0], &ok, 1) == 1);
  REQUIRE(ok == 'y');
  Run r = supervise(pid_args(kv.server.pid, kV2));
  check_refused(r);
  CHECK(r.report["message"].get<std::string>().find("already traced by pid " + std::to_string(tracer)) !=
        std::string::npos);
  end(tracer);  // the kernel detaches its tracee
  close(p[0]);
  close(p[1]);
  kv.check_serving();
}

TEST_CASE("refused: a target not built with ttst-cc") {
  pid_t plain = spawn_ready({kTests + "plain_bin"});
  Run r = supervise(pid_args(plain, kV2));
  check_refused(r);
  CHECK(r.report["message"].get<std::string>().find("not built with ttst-cc") != std::string::npos);
  CHECK(kill(plain, 0) == 0);
  end(plain);
}

TEST_CASE("a multi-threaded target: every thread quiesced, paired with v2's and the update validated") {
  // qprog updated to itself: both threads are quiesced, F's two threads reach their
  // update points and pair with P's by start function (issue 19, second stage);
  // --validate-only passes and leaves P running.
  pid_t mt = spawn_ready({"tests/programs/runtime/qprog", "mt"});
  Run r = supervise(pid_args(mt, "tests/programs/runtime/qprog") + " --validate-only");
  CHECK_MESSAGE(r.status == 0, r.err);
  CHECK(r.report["reason"] == "validate_only");
  CHECK_MESSAGE(r.err.find("ttst-supervise: validated: ") != std::string::npos, r.err);
  CHECK(kill(mt, 0) == 0);
  CHECK(!traced(mt));
  end(mt);
}

TEST_CASE("refused: bad new versions, P untouched and serving") {
  Filled kv;
  std::string dir = tmpdir();
  std::string noexec = dir + "/noexec_v2", text = dir + "/text_v2";
  fs::copy_file(kV2, noexec, fs::copy_options::overwrite_existing);
  chmod(noexec.c_str(), 0644);
  { std::ofstream(text) << "#!/bin/sh\necho not an ELF\n"; }
  chmod(text.c_str(), 0755);
  struct Case {
    std::string v2, says;
  } cases[] = {
      {dir + "/missing_v2", "does not exist"},
      {noexec, "not executable"},
      {text, "ELF"},
      {kTests + "aarch64_v2_bin", "x86"},
      {kTests + "stripped_v2_bin", "no separate debug info was found: looked for /usr/lib/debug/.build-id/"},
      {kTests + "plain_bin", "not built with ttst-cc"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.v2);
    Run r = supervise(pid_args(kv.server.pid, c.v2));
    check_refused(r);
    CHECK(r.report["reason"] == "bad_input");
    CHECK(r.report["message"].get<std::string>().find(c.says) != std::string::npos);
    CHECK(r.report["new_pid"] == 0);  // nothing new serves
  }
  kv.check_serving();
}

TEST_CASE("refused: a new version that is another program, with and without state in P") {
  Filled kv;  // holding 50 keys
  KvServer empty = KvServer::start(kV1);  // holding nothing: nothing to transfer, nothing to lose
  for (pid_t pid : {kv.server.pid, empty.pid})
    for (const std::string& other : {std::string("tests/programs/runtime/qprog"), kTests + "logger_v2"}) {
      CAPTURE(pid);
      CAPTURE(other);
      Run r = supervise(pid_args(pid, other));
      check_refused(r);
      CHECK(r.report["reason"] == "bad_input");
      std::string m = r.report["message"];
      CHECK(m.rfind("the new version is not a version of the running program: it shares ", 0) == 0);
      CHECK(m.find("running: kvserver.c") != std::string::npos);
      CHECK(r.err.find("--allow-different-program") != std::string::npos);
      CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);  // one line
    }
  empty.kill_and_wait();
  kv.check_serving();
}

TEST_CASE("refused: a plan that needs user code, each object named") {
  Filled kv;
  Run r = supervise(pid_args(kv.server.pid, kTests + "semantic_v2") + kStandIn);
  check_refused(r);
  CHECK(r.report["reason"] == "needs_user_code");
  REQUIRE(r.report["needs_user_code"].size() >= 1);
  for (const auto& id : r.report["needs_user_code"])
    CHECK(r.report["message"].get<std::string>().find(id.get<std::string>()) != std::string::npos);
  CHECK(r.err.find("--xfer") != std::string::npos);
  kv.check_serving();
}

// After a commit: P has been ended by the supervisor (reaped here when it is the
// test's own child); `kv` owns the new version from now on.
pid_t take_over(Filled& kv, const Run& r) {
  pid_t f = r.report["new_pid"].get<pid_t>();
  pid_t old = kv.server.pid;
  int st = 0;
  if (waitpid(old, &st, 0) != old) {  // a former F: not our child
    bool gone = await([&] {
      const std::string state = proc_status_field(old, "State");
      return state.empty() || state[0] == 'Z' || state[0] == 'X';
    }, kAwait);
    CHECK_MESSAGE(gone, "the old version " << old << " still runs after the commit");
  }
  kv.server.pid = f;
  return f;
}

long vm_rss_kb(pid_t pid) {
  std::string kb = proc_status_field(pid, "VmRSS");
  return kb.empty() ? -1 : std::stol(kb);
}

TEST_CASE("a stripped v2 with separate debug info (by build id, by .gnu_debuglink) updates like the unstripped one") {
  // fullstrip_v2: `strip`ped kvserver v2 (no DWARF, no symbol table); its debug
  // file (objcopy --only-keep-debug) laid out under a debug root as Debian's
  // -dbgsym packages do, named with --debug-dir. linked_v2: the same with a
  // .gnu_debuglink to the debug file beside it.
  const std::string root = tmpdir() + "/debug-root";
  const std::string id = ttst::dwarfmeta::ElfFile(kTests + "fullstrip_v2_bin").build_id();
  REQUIRE(id.size() > 4);
  fs::create_directories(root + "/.build-id/" + id.substr(0, 2));
  fs::copy_file(kTests + "fullstrip_v2.debug", root + "/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug",
                fs::copy_options::overwrite_existing);
  for (const std::string& args : {kTests + "fullstrip_v2_bin --debug-dir " + root, kTests + "linked_v2_bin"}) {
    CAPTURE(args);
    Filled kv;
    Run r = supervise(pid_args(kv.server.pid, args));
    REQUIRE(r.status == 0);
    take_over(kv, r);
    KvClient c(kv.server.port);
    CHECK(c.command("VERSION") == "VERSION 2");
    for (int i = 0; i < 50; ++i) CHECK(c.get("key" + std::to_string(i)) == "VALUE value" + std::to_string(i));
  }
  {  // the running program stripped too (its debug file found from /proc/PID/exe's target)
    KvServer server = KvServer::start(kTests + "linked_v1_bin");
    {
      KvClient c(server.port);
      REQUIRE(c.set("stripped", "both") == "OK");
    }
    Run r = supervise(pid_args(server.pid, kTests + "linked_v2_bin"));
    CHECK(r.status == 0);
    if (r.status == 0) {
      waitpid(server.pid, nullptr, 0);
      server.pid = r.report["new_pid"].get<pid_t>();
      KvClient c(server.port);
      CHECK(c.command("VERSION") == "VERSION 2");
      CHECK(c.get("stripped") == "VALUE both");
    }
    server.kill_and_wait();
  }
  Filled kv;  // without the root: refused, naming where it looked
  Run r = supervise(pid_args(kv.server.pid, kTests + "fullstrip_v2_bin") + " --debug-dir " + tmpdir() + "/nowhere");
  check_refused(r);
  CHECK(r.report["message"].get<std::string>().find("looked for " + tmpdir() + "/nowhere/.build-id/" + id.substr(0, 2)) !=
        std::string::npos);
  kv.check_serving();
}

TEST_CASE("committed: state written before the update reads back after it (v1 -> v2)") {
  Filled kv;  // 50 keys
  {
    KvClient c(kv.server.port);
    CHECK(c.command("DEL key7") == "DELETED");
    CHECK(c.get("key8") == "VALUE value8");  // a hit and an LRU move
  }
  std::string pidfile = tmpdir() + "/kv-commit.pid";
  Run r = supervise(pid_args(kv.server.pid, kV2) + " --pidfile " + pidfile);
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  CHECK(phase_names(r) == std::vector<std::string>{"plan", "quiesce", "create", "startup", "forward", "backward", "diff",
                                          "commit", "grace"});
  REQUIRE(r.report["transfers"].size() == 2);  // what each transfer carried over
  CHECK(r.report["transfers"][0]["direction"] == "forward");
  CHECK(r.report["transfers"][1]["direction"] == "backward");
  CHECK(r.report["transfers"][0]["objects"].get<uint64_t>() > 100);  // 49 keys, their strings, the table...
  CHECK(r.report["transfers"][0]["pointers"].get<uint64_t>() > 50);
  pid_t old_pid = kv.server.pid;
  // P had exited when "committed" was printed (past_end.h): a zombie now, as this
  // test, its parent, has not reaped it; the message says so.
  const std::string state = proc_status_field(old_pid, "State");
  CHECK_MESSAGE((!state.empty() && state[0] == 'Z'), "old pid state: " << state);
  CHECK(r.report["message"].get<std::string>().find("is a zombie until its parent process reaps it") !=
        std::string::npos);
  pid_t f = take_over(kv, r);
  CHECK(f != old_pid);
  std::ifstream pf(pidfile);
  pid_t written = 0;
  pf >> written;
  CHECK(written == f);
  // The same listening socket, now answered by v2, with v1's data and counters.
  KvClient c(kv.server.port);
  CHECK(c.command("VERSION") == "VERSION 2");
  for (int i = 0; i < 50; ++i)
    CHECK(c.get("key" + std::to_string(i)) == (i == 7 ? "NOT_FOUND" : "VALUE value" + std::to_string(i)));
  CHECK(c.command("STATS").rfind("STATS count=49 gets=51 sets=50 dels=1", 0) == 0);
  CHECK(c.set("after", "v2") == "OK");
  CHECK(c.get("after") == "VALUE v2");
}

TEST_CASE("committed: a server whose epoll instance holds pointers (data.ptr) keeps its connections") {
  // kvserver built with -DKV_EPOLL_PTR registers each connection's address with
  // epoll. After the commit the kernel must hand v2 its own objects' addresses, for
  // a connection opened before the update as for new ones; P's instance untouched.
  KvServer server = KvServer::start("tests/programs/kvserver/kvserver_v1_ptr");
  KvClient early(server.port);
  for (int i = 0; i < 20; ++i) REQUIRE(early.set("p" + std::to_string(i), "v" + std::to_string(i)) == "OK");
  Run r = supervise(pid_args(server.pid, "tests/programs/kvserver/kvserver_v2_ptr"));
  CHECK(r.status == 0);
  INFO(r.err);
  if (r.status == 0) {
    int st = 0;
    waitpid(server.pid, &st, 0);
    server.pid = r.report["new_pid"].get<pid_t>();
    CHECK(early.command("VERSION") == "VERSION 2");  // the connection made under v1
    for (int i = 0; i < 20; ++i) CHECK(early.get("p" + std::to_string(i)) == "VALUE v" + std::to_string(i));
    KvClient late(server.port);  // accepted by v2 through the listener's registration
    CHECK(late.get("p3") == "VALUE v3");
    CHECK(late.set("after", "x") == "OK");
    CHECK(early.get("after") == "VALUE x");
  }
  server.kill_and_wait();
}

TEST_CASE("committed: the lines the old version printed but had not written reach its file first") {
  // logger_v1's stdout is a file, so printf buffers inside the process; P is ended
  // at commit without exit(). Its pending lines must be written before v2's.
  std::string path = tmpdir() + "/logger-" + std::to_string(getpid()) + ".out";
  pid_t p = fork();
  if (p == 0) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    execl((kTests + "logger_v1").c_str(), "logger_v1", static_cast<char*>(nullptr));
    _exit(127);
  }
  // Each line is followed by a 5 ms sleep (a voluntary context switch): wait for 30
  // lines, most still in its stdio buffer.
  REQUIRE(await([&] {
    std::string n = proc_status_field(p, "voluntary_ctxt_switches");
    return !n.empty() && std::stol(n) >= 30;
  }, kAwait));
  // Without a grace period (--grace 0): with one, v2's output of the period comes
  // first (P's buffers are written only once P is ended, grace_period.h), and
  // logger_v2 exits after its 20 lines, which a grace period takes for a failure.
  Run r = supervise(pid_args(p, kTests + "logger_v2") + " --grace 0");
  REQUIRE(r.status == 0);
  INFO(r.report.dump());
  CHECK(r.report["message"].get<std::string>().find("bytes of output the old version had buffered") != std::string::npos);
  int st = 0;
  waitpid(p, &st, 0);
  pid_t f = r.report["new_pid"].get<pid_t>();
  CHECK(await([&] {  // v2 prints 20 more lines and exits
    const std::string state = proc_status_field(f, "State");
    return state.empty() || state[0] == 'Z' || state[0] == 'X';
  }, kAwait));
  std::ifstream in(path);
  std::string line;
  long expect = 0, v1_lines = 0, v2_lines = 0;
  bool in_order = true;
  while (std::getline(in, line)) {
    long n = -1;
    int v = 0;
    if (std::sscanf(line.c_str(), "v%d line %ld", &v, &n) != 2 || n != expect || (v == 1 && v2_lines > 0)) {
      in_order = false;
      INFO("line " << expect << " is '" << line << "'");
      CHECK(in_order);
      break;
    }
    (v == 1 ? v1_lines : v2_lines)++, expect++;
  }
  CHECK(in_order);
  CHECK(v1_lines > 10);
  CHECK(v2_lines == 20);
}

TEST_CASE("committed under a service manager: MAINPID of the new version sent on NOTIFY_SOCKET") {
  // As systemd would see it (sd_notify): the old version was started with
  // NOTIFY_SOCKET; at commit the manager must learn the new main PID before the
  // old one dies, or it would stop the unit and kill the new version.
  std::string sock = "/tmp/ttst-notify-" + std::to_string(getpid()) + ".sock";  // sun_path holds 107 bytes
  ::unlink(sock.c_str());
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, sock.c_str(), sizeof sa.sun_path - 1);
  REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  setenv("NOTIFY_SOCKET", sock.c_str(), 1);
  KvServer server = KvServer::start(kV1);
  unsetenv("NOTIFY_SOCKET");
  Run r = supervise(pid_args(server.pid, kV2));
  REQUIRE(r.status == 0);
  INFO(r.report["message"].get<std::string>());
  CHECK(r.report["message"].get<std::string>().find("told the service manager (NOTIFY_SOCKET) the new main PID") !=
        std::string::npos);
  pid_t f = r.report["new_pid"].get<pid_t>();
  timeval tv{2, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[128] = {};
  ssize_t n = recv(s, buf, sizeof buf - 1, 0);
  CHECK(std::string(buf, n > 0 ? size_t(n) : 0) == "MAINPID=" + std::to_string(f) + "\n");
  int st = 0;
  waitpid(server.pid, &st, 0);
  server.pid = f;
  KvClient c(server.port);
  CHECK(c.command("VERSION") == "VERSION 2");
  server.kill_and_wait();
  close(s);
  ::unlink(sock.c_str());
}

TEST_CASE("committed although v1's binary was replaced on disk (metadata from /proc/N/exe)") {
  // As after a package upgrade: the file v1 was started from now holds something
  // else entirely. ttst must read v1's metadata from the running process.
  std::string exe = tmpdir() + "/kvserver-installed";
  fs::copy_file(kV1, exe, fs::copy_options::overwrite_existing);
  KvServer server = KvServer::start(exe);
  {
    KvClient c(server.port);
    for (int i = 0; i < 20; ++i) REQUIRE(c.set("pkg" + std::to_string(i), "v" + std::to_string(i)) == "OK");
  }
  std::string replacement = exe + ".new";
  {
    std::ofstream junk(replacement);
    junk << "#!/bin/sh\necho not the program\n";
  }
  fs::rename(replacement, exe);  // the old inode lives on only in the process
  Run r = supervise(pid_args(server.pid, kV2));
  CHECK(r.status == 0);
  if (r.status == 0) {
    int st = 0;
    waitpid(server.pid, &st, 0);
    server.pid = r.report["new_pid"].get<pid_t>();
    KvClient c(server.port);
    CHECK(c.command("VERSION") == "VERSION 2");
    for (int i = 0; i < 20; ++i) CHECK(c.get("pkg" + std::to_string(i)) == "VALUE v" + std::to_string(i));
  }
  server.kill_and_wait();
}

// Our children that still run (this process is a subreaper in the test below, so
// an orphaned F becomes one); exited ones are reaped on the way.
std::vector<pid_t> running_children() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  std::vector<pid_t> out;
  for (const auto& t : fs::directory_iterator("/proc/self/task")) {
    std::ifstream in(t.path() / "children");
    for (pid_t c; in >> c;) out.push_back(c);
  }
  return out;
}

TEST_CASE("the supervisor killed at each commit step: exactly one version serves, with the data") {
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  const std::pair<const char*, const char*> steps[] = {
      {"commit.past_pid", "VERSION 1"},     // F dies with us: rollback
      {"commit.unleashed", "VERSION 1"},    // F sees P alive and exits: rollback
      {"commit.past_doomed", "VERSION 2"},  // P runs its exit_group, F serves: commit
      {"commit.flushed", "VERSION 2"},      // the same, after P's remote writes (stdio, MAINPID)
      {"commit.released", "VERSION 2"},     // F runs on, P (doomed) ends
      {"commit.grace", "VERSION 2"},        // during the grace period: F serves, P ends
  };
  for (const auto& [step, expect] : steps) {
    CAPTURE(step);
    Filled kv;
    pid_t p = kv.server.pid;
    Run r = supervise_testing(pid_args(p, kV2), std::string("TTST_SUPERVISE_TEST_DIE_AT=") + step);
    CHECK(r.status == 128 + SIGKILL);  // the shell reports the supervisor killed
    // Within the runtime's wait (TTST_PAST_EXIT_WAIT_MS = 1 s) the outcome settles.
    pid_t server = 0;
    await([&] {
      std::vector<pid_t> alive = running_children();
      if (alive.size() == 1) server = alive[0];
      return server != 0;
    }, kAwait);
    REQUIRE_MESSAGE(server != 0, "not exactly one version left running");
    CHECK((server == p) == (std::string(expect) == "VERSION 1"));
    kv.server.pid = server;
    for (int c = 0; c < 5; ++c) {
      KvClient client(kv.server.port);
      CHECK(client.command("VERSION") == expect);
    }
    KvClient client(kv.server.port);
    for (int i = 0; i < 50; i += 7) CHECK(client.get("key" + std::to_string(i)) == "VALUE value" + std::to_string(i));
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_CASE("20 consecutive updates v1 -> v2 -> v1 ...: data intact, no memory growth") {
  Filled kv;
  std::vector<long> rss;
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    const bool to_v2 = round % 2 == 0;
    Run r = supervise(pid_args(kv.server.pid, to_v2 ? kV2 : kV1));
    REQUIRE(r.status == 0);
    take_over(kv, r);
    KvClient c(kv.server.port);
    REQUIRE(c.command("VERSION") == (to_v2 ? "VERSION 2" : "VERSION 1"));
    for (int i = 0; i < 50; i += 7) CHECK(c.get("key" + std::to_string(i)) == "VALUE value" + std::to_string(i));
    rss.push_back(vm_rss_kb(kv.server.pid));
  }
  kv.check_serving();
  MESSAGE("VmRSS (KiB) after each update: " << [&] {
    std::string s;
    for (long v : rss) s += std::to_string(v) + " ";
    return s;
  }());
  // Same version, same state: the last updates use no more memory than the first.
  CHECK(rss[19] <= rss[1] + 256);
  CHECK(rss[18] <= rss[0] + 256);
}

TEST_CASE("rolled back: the agent crashes (test hook: NULL dereference task)") {
  Filled kv;
  Run r = supervise_testing(pid_args(kv.server.pid, kV2), "TTST_SUPERVISE_TEST_FORWARD_TASK=2");
  check_rolled_back(r, "crash");
  CHECK(r.report["crash"]["process"] == "future");
  CHECK(r.report["crash"]["signal"] == SIGSEGV);
  CHECK(r.report["crash"]["fault_address"] == "0x0");
  CHECK(!r.report["crash"]["instruction"].get<std::string>().empty());
  CHECK(r.report["crash"]["symbol"].get<std::string>().find("task_null_deref") != std::string::npos);
  kv.check_serving();
}

TEST_CASE("rolled back: v2 calls abort() during start-up: the report names the v2 function that called it") {
  Filled kv;
  Run r = supervise(pid_args(kv.server.pid, kTests + "abort_v2") + kStandIn);
  check_rolled_back(r, "startup_crash");
  CHECK(r.report["crash"]["signal"] == SIGABRT);
  const std::string symbol = r.report["crash"]["symbol"], m = r.report["message"];
  CHECK(symbol.find("libc.so.6+0x") == 0);
  CHECK(symbol.find(", called from abort_v2.c::load_config+0x") != std::string::npos);
  CHECK(m.find("SIGABRT, raised by v2 itself") != std::string::npos);
  CHECK(m.find("called from abort_v2.c::load_config+0x") != std::string::npos);
  CHECK(m.find(" ?") == std::string::npos);
  CHECK(r.report["crash"]["instruction"] == "syscall");  // abort's tgkill
  CHECK(r.report["startup_stderr"] == "abort_v2: cannot load the configuration\n");
  kv.check_serving();
}

TEST_CASE("rolled back: v2 whose start-up used every descriptor is told so, not reported as ttst's bug") {
  // emfile_v2 lowers its limit to 64 and opens files until EMFILE, then reaches its
  // update point: the agent in it cannot open /proc/P/maps.
  Filled kv;
  Run r = supervise(pid_args(kv.server.pid, kTests + "emfile_v2") + kStandIn);
  check_rolled_back(r, "resource_limit");
  const std::string m = r.report["message"], advice = r.report["advice"];
  CHECK(m.find("the new version has no free file descriptor after its start-up") != std::string::npos);
  CHECK(m.find("(EMFILE): it holds 64 descriptors, its limit (RLIMIT_NOFILE) is 64") != std::string::npos);
  CHECK(m.find("internal") == std::string::npos);
  CHECK(advice.find("raise v2's descriptor limit") != std::string::npos);
  CHECK(advice.find("report this") == std::string::npos);
  CHECK(r.report["detail"].get<std::string>().find("no free file descriptor (EMFILE) to open /proc/PEER/maps") !=
        std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  kv.check_serving();
}

TEST_CASE("rolled back: v2 crashes during start-up") {
  Filled kv;
  Run r = supervise(pid_args(kv.server.pid, kTests + "crash_v2") + kStandIn);
  check_rolled_back(r, "startup_crash");
  CHECK(r.report["crash"]["signal"] == SIGSEGV);
  CHECK(r.report["crash"]["symbol"].get<std::string>().rfind("main+", 0) == 0);
  CHECK(r.report["crash"]["instruction"].get<std::string>().find("mov") != std::string::npos);
  kv.check_serving();
}

TEST_CASE("rolled back: v2 exits during start-up; the report holds what it wrote to stderr") {
  Filled kv;
  Run r = supervise(pid_args(kv.server.pid, kTests + "exit_v2") + kStandIn);
  check_rolled_back(r, "startup_crash");
  CHECK(r.report["message"].get<std::string>().find("status 7") != std::string::npos);
  CHECK(r.report["message"].get<std::string>().find("its stderr is in the report") != std::string::npos);
  CHECK(r.report["startup_stderr"] == "exit_v2: bad configuration\n");
  // ttst-report show prints it too.
  std::string dir = tmpdir() + "/reports";
  std::string newest;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json" && e.path().string() > newest) newest = e.path().string();
  auto [status, shown] = run_command("supervisor/ttst-report show " + newest);
  CHECK(status == 0);
  CHECK(shown.find("start-up stderr") != std::string::npos);
  CHECK(shown.find("| exit_v2: bad configuration") != std::string::npos);
  kv.check_serving();
}

TEST_CASE("v2's start-up stderr in the report is bounded: its last 4 KiB") {
  Filled kv;
  Run r = supervise(pid_args(kv.server.pid, kTests + "chatty_v2") + kStandIn);
  check_rolled_back(r, "startup_crash");
  const std::string out = r.report["startup_stderr"];
  CHECK(out.size() == 4096);
  const size_t last = out.rfind("chatty_v2: start-up line 199 ....");
  REQUIRE(last != std::string::npos);
  CHECK(out.find('\n', last) == out.size() - 1);  // the last line, whole
  CHECK(out.find("line 000") == std::string::npos);
  kv.check_serving();
}

// The limit is what ends v2's start-up, so how much of it the phases before used
// decides the reason: over half (a loaded machine), the time limit is blamed
// (future_startup.cc), else the missing update point. Either way the message says
// where v2 waits; 3 s leave v2 time to reach its pause() under load.
TEST_CASE("rolled back: v2 never reaches its update point: the message says where it waits") {
  Filled kv;
  Run r = supervise(pid_args(kv.server.pid, kTests + "no_upoint_v2") + kStandIn + " --timeout 3s");
  const std::string m = r.report["message"];
  if (r.report["reason"] == "timeout") {
    check_rolled_back(r, "timeout");
    CHECK_MESSAGE(m.find("the time limit ran out during v2's start-up") != std::string::npos, m);
    CHECK_MESSAGE(m.find("and v2 was waiting in pause()") != std::string::npos, m);
    kv.check_serving();
    return;
  }
  check_rolled_back(r, "no_update_point");
  CHECK(m.find("did not reach an update point") != std::string::npos);
  CHECK(m.find("waiting in pause()") != std::string::npos);
  CHECK(r.report["advice"].get<std::string>().find("TTST_UPDATE_POINT()") != std::string::npos);
  kv.check_serving();
}

TEST_CASE("refused before touching P: a new version whose binary holds no update point") {
  Filled kv;
  Run r = supervise(pid_args(kv.server.pid, kTests + "upointless_v2") + kStandIn);
  check_refused(r);
  CHECK(r.report["reason"] == "bad_input");
  CHECK(r.report["message"].get<std::string>().find("has no update point") != std::string::npos);
  CHECK(phase_names(r) == std::vector<std::string>{"plan"});
  kv.check_serving();
}

TEST_CASE("a --timeout too small for the update says the time limit ran out, not that v2 has no update point") {
  Filled kv;
  Run r = supervise(pid_args(kv.server.pid, kV2) + " --timeout 1ms");
  CHECK(r.report["reason"] == "timeout");
  // Refused when the limit ran out before P was touched, else rolled back.
  CHECK(r.status == (r.report["outcome"] == "refused" ? 2 : 1));
  const std::string m = r.report["message"], advice = r.report["advice"];
  CHECK(m.find("time limit ran out") != std::string::npos);
  CHECK(m.find("update point") == std::string::npos);
  CHECK(advice.rfind("raise --timeout", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);  // --json: no progress lines, one line
  kv.check_serving();
}

TEST_CASE("refused before touching P: a --report-dir that cannot be written") {
  Filled kv;
  const std::string file = tmpdir() + "/a-file";
  { std::ofstream(file) << "not a directory\n"; }
  const std::string dir = file + "/reports";  // cannot be created, even by root
  auto [status, err] = run_command("env XDG_CACHE_HOME=" + tmpdir() + "/cache " + kSupervise + " " +
                                   pid_args(kv.server.pid, kV2) + " --report-dir " + dir);
  CHECK(status == 2);
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);  // one line, before any phase
  CHECK(err.rfind("ttst-supervise: refused: cannot write the report (", 0) == 0);
  CHECK(err.find(dir) != std::string::npos);
  CHECK(err.find("was not touched") != std::string::npos);
  CHECK(err.find("--report-dir") != std::string::npos);
  kv.check_serving();  // still v1: no update happened without a report
  KvClient c(kv.server.port);
  CHECK(c.command("VERSION") == "VERSION 1");
}

TEST_CASE("the supervisor SIGKILLed mid-transaction: P keeps serving") {
  Filled kv;
  // Test hook: the forward run loops forever, so the transaction is surely in
  // progress (P stopped, R and F alive) when the supervisor is killed.
  std::string dir = tmpdir() + "/reports-kill";
  pid_t sup = fork();
  if (sup == 0) {
    setenv("TTST_SUPERVISE_TEST_FORWARD_TASK", "5", 1);
    setenv("XDG_CACHE_HOME", (tmpdir() + "/cache").c_str(), 1);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    std::string pid = std::to_string(kv.server.pid);
    execl(kSuperviseTesting.c_str(), kSuperviseTesting.c_str(), "--pid", pid.c_str(), "--new", kV2.c_str(),
          "--timeout", "30s", "--report-dir", dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until the forward run is in progress: P traced, and F (v2, traced by the
  // supervisor too) running the agent's endless loop.
  auto forward_running = [&] {
    if (!traced(kv.server.pid)) return false;
    std::error_code ec;
    for (auto it = fs::directory_iterator("/proc", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const pid_t f = std::stoi(name);
      std::error_code e2;
      std::string exe = fs::read_symlink(it->path() / "exe", e2).filename().string();
      if (exe == "kvserver_v2" && proc_status_field(f, "TracerPid") == std::to_string(sup) &&
          proc_status_field(f, "State").rfind("R", 0) == 0)
        return true;
    }
    return false;
  };
  CHECK(await(forward_running, kAwait));
  kill(sup, SIGKILL);
  int st = 0;
  waitpid(sup, &st, 0);
  CHECK(WIFSIGNALED(st));
  CHECK(await([&] { return !traced(kv.server.pid); }, kAwait));  // the kernel detached P
  kv.check_serving();
}

TEST_CASE("commit mechanics: F released and serving, P ended, pid file rewritten") {
  // Test hook: the empty task stands in for the forward transfer (status OK), so
  // this checks only what commit does, not state transfer (stfw's job).
  Filled kv;
  std::string pidfile = tmpdir() + "/kv.pid";
  Run r = supervise_testing(pid_args(kv.server.pid, kV2) + " --forward-only --pidfile " + pidfile, "TTST_SUPERVISE_TEST_FORWARD_TASK=0");
  CHECK(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  pid_t f = r.report["new_pid"].get<pid_t>();
  CHECK(f != kv.server.pid);
  std::ifstream pf(pidfile);
  pid_t written = 0;
  pf >> written;
  CHECK(written == f);
  int st = 0;
  CHECK(waitpid(kv.server.pid, &st, 0) == kv.server.pid);  // P ended
  CHECK(WIFSIGNALED(st));
  kv.server.pid = -1;
  // F runs on past its update point, released (not traced): `updating` was cleared
  // before the release, so once out of the marker system call (getppid, 110) it
  // returns to its loop and can no longer exit with TTST_EXIT_NO_SUPERVISOR.
  std::string syscall_line;
  CHECK_MESSAGE(await([&] {
    std::ifstream sc("/proc/" + std::to_string(f) + "/syscall");
    std::getline(sc, syscall_line);
    return !syscall_line.empty() && syscall_line.rfind("110 ", 0) != 0 && !traced(f);
  }, kAwait), syscall_line);
  const std::string state = proc_status_field(f, "State");
  CHECK(state.find("Z") == std::string::npos);
  CHECK(!state.empty());
  CHECK(proc_status_field(f, "TracerPid") == "0");
  kill(f, SIGKILL);
}

TEST_CASE("--validate-only runs backward and diff, then rolls back (test hooks: empty transfers)") {
  // With the empty task standing in for both transfers, R is P untouched: the diff
  // must find P and R equal, and --validate-only must still roll back.
  Filled kv;
  Run r = supervise_testing(pid_args(kv.server.pid, kV2) + " --validate-only", "TTST_SUPERVISE_TEST_FORWARD_TASK=0 TTST_SUPERVISE_TEST_BACKWARD_TASK=0");
  CHECK(r.status == 0);
  CHECK(r.report["outcome"] == "rolled_back");
  CHECK(r.report["reason"] == "validate_only");
  CHECK(r.err.find("ttst-supervise: validated: ") != std::string::npos);  // not "rolled_back"
  CHECK(phase_names(r) == std::vector<std::string>{"plan", "quiesce", "create", "startup", "forward", "backward", "diff",
                                          "rollback"});
  CHECK(r.report["new_pid"] == 0);  // nothing new serves
  kv.check_serving();
}

TEST_CASE("rolled back: a transfer that loses a write is caught by the diff and named (state_diff)") {
  // Test hook: the backward transfer is the real one plus one lost write
  // (TTST_AGENT_TASK_STFW_BACKWARD_LOSSY = 102): R's table.count is one less than P's.
  Filled kv;  // 50 keys: table.count == 50
  Run r = supervise_testing(pid_args(kv.server.pid, kV2), "TTST_SUPERVISE_TEST_BACKWARD_TASK=102");
  check_rolled_back(r, "state_diff");
  CHECK(r.report["differences_total"].get<int>() >= 1);
  REQUIRE(!r.report["differences"].empty());
  const auto& d = r.report["differences"][0];
  CHECK(d["where"].get<std::string>().find("table.count") != std::string::npos);
  CHECK(d["past"] == "50");
  CHECK(d["reversed"] == "49");
  CHECK(phase_names(r) == std::vector<std::string>{"plan", "quiesce", "create", "startup", "forward", "backward", "diff",
                                          "rollback"});
  CHECK(r.report["new_pid"] == 0);  // nothing new serves
  kv.check_serving();
}

TEST_CASE("a backward transfer that crashes in R is reported as the reversed process's crash") {
  Filled kv;
  Run r = supervise_testing(pid_args(kv.server.pid, kV2), "TTST_SUPERVISE_TEST_FORWARD_TASK=0 TTST_SUPERVISE_TEST_BACKWARD_TASK=3");
  check_rolled_back(r, "crash");
  CHECK(r.report["crash"]["process"] == "reversed");
  CHECK(r.report["crash"]["signal"] == SIGABRT);
  kv.check_serving();
}

TEST_CASE("a busy P is driven to its update point (stop protocol), then resumes") {
  // qprog busy spins through TTST_UPDATE_POINT() without blocking: the probe finds
  // it running, the supervisor sets update_requested and catches the marker stop.
  // v2 is qprog itself; both transfers are the empty task (test hooks).
  pid_t busy = spawn_ready({"tests/programs/runtime/qprog", "busy"});
  Run r = supervise_testing("--pid " + std::to_string(busy) + " --new tests/programs/runtime/qprog --validate-only", "TTST_SUPERVISE_TEST_FORWARD_TASK=0 TTST_SUPERVISE_TEST_BACKWARD_TASK=0");
  CHECK(r.status == 0);
  CHECK(r.report["reason"] == "validate_only");
  // P runs on: its CPU time keeps growing, and it is not traced.
  auto cpu = [&] {
    std::ifstream st("/proc/" + std::to_string(busy) + "/stat");
    std::string s((std::istreambuf_iterator<char>(st)), {});
    std::istringstream in(s.substr(s.rfind(')') + 2));
    std::string f;
    long utime = 0;
    for (int i = 3; i <= 14 && in >> f; ++i)
      if (i == 14) utime = std::stol(f);
    return utime;
  };
  long before = cpu();
  CHECK(await([&] { return cpu() > before; }, kAwait));
  end(busy);
}

TEST_CASE("P blocked mid-request in a handler inlined into its event loop is not taken as quiescent") {
  // qprog inlined: a handler inlined into event_loop blocks in read(); the loop's own
  // read (qprog read) is quiescent. Not quiescent: driven to its update point, which
  // it never reaches while the request waits: refused, P untouched (still in its read).
  auto blocked_in_read = [](pid_t pid) {
    return await([&] {
      std::ifstream sc("/proc/" + std::to_string(pid) + "/syscall");
      std::string s;
      std::getline(sc, s);
      return s.rfind("0 ", 0) == 0 && proc_status_field(pid, "State").rfind("S", 0) == 0;
    }, kAwait);
  };
  const std::string env = "TTST_SUPERVISE_TEST_FORWARD_TASK=0 TTST_SUPERVISE_TEST_BACKWARD_TASK=0";
  pid_t loop = spawn_ready({"tests/programs/runtime/qprog", "read"});
  REQUIRE(blocked_in_read(loop));
  Run ok = supervise_testing(pid_args(loop, "tests/programs/runtime/qprog") + " --validate-only", env);
  CHECK(ok.status == 0);
  CHECK(ok.report["reason"] == "validate_only");
  end(loop);

  pid_t mid = spawn_ready({"tests/programs/runtime/qprog", "inlined"});
  REQUIRE(blocked_in_read(mid));
  Run r = supervise_testing(pid_args(mid, "tests/programs/runtime/qprog") + " --validate-only", env);
  check_refused(r);
  CHECK(r.report["reason"] == "not_quiescent");
  CHECK(r.report["message"].get<std::string>().find("did not reach an update point") != std::string::npos);
  CHECK(blocked_in_read(mid));  // its read neither ended nor failed
  CHECK(proc_status_field(mid, "TracerPid") == "0");
  end(mid);
}

TEST_CASE("an attempt under continuous client load loses and fails no request") {
  Filled kv;
  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, bad{0};
  std::string error;
  std::thread client([&] {
    try {
      KvClient c(kv.server.port);
      for (long i = 0; !stop; ++i) {
        std::string k = "load" + std::to_string(i);
        std::string set = c.set(k, "v" + std::to_string(i));
        std::string got = set == "OK" ? c.get(k) : "";
        if (set == "OK" && got == "VALUE v" + std::to_string(i)) {
          ++ok;
        } else {
          if (bad++ == 0) error = "request " + std::to_string(i) + ": SET -> '" + set + "', GET -> '" + got + "'";
        }
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  REQUIRE(await([&] { return ok > 0 || !error.empty(); }, kAwait));  // the client's requests flow
  Run r = supervise(pid_args(kv.server.pid, kV2));
  const long served_before_end = ok;
  // Requests go on being served after the update (by v2 when it committed).
  CHECK(await([&] { return ok > served_before_end + 10 || !error.empty() || bad > 0; }, kAwait));
  stop = true;
  client.join();
  // The update commits under load; the client's connection, its pending requests
  // and every key it wrote carry over to v2: none is lost or fails.
  MESSAGE("outcome under load: " << r.report["outcome"] << " " << r.report["reason"]);
  CHECK(r.status == 0);
  CHECK(error == "");
  CHECK(ok > 0);
  CHECK(bad == 0);
  if (r.status == 0) {
    take_over(kv, r);
    KvClient c(kv.server.port);
    CHECK(c.command("VERSION") == "VERSION 2");
    for (long i = 0; i < ok; i += std::max(1L, ok.load() / 50))
      CHECK(c.get("load" + std::to_string(i)) == "VALUE v" + std::to_string(i));
  }
  kv.check_serving();
}

// The whole file `path`.
std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_CASE("the shipped ttst-supervise embeds the shipped agent, never the test agent or a test task") {
  const std::string shipped = file_bytes(kSupervise), testing = file_bytes(kSuperviseTesting);
  const std::string agent = file_bytes("inject/agent/agent"), test_agent = file_bytes("inject/agent/agent_testing");
  REQUIRE(!agent.empty());
  REQUIRE(!test_agent.empty());
  CHECK(shipped.find(agent) != std::string::npos);       // the agent ELF, byte for byte
  CHECK(shipped.find(test_agent) == std::string::npos);
  CHECK(testing.find(test_agent) != std::string::npos);  // the search does find an embedded agent
  for (const char* test_only : {"task_null_deref", "task_stfw_backward_lossy", "task_infinite_loop",
                                "TTST_SUPERVISE_TEST_FORWARD_TASK", "TTST_SUPERVISE_TEST_BACKWARD_TASK",
                                "TTST_SUPERVISE_TEST_DIE_AT", "TTST_SUPERVISE_TEST_BUG_IN", "TTST_SUPERVISE_TEST_PAUSE_AT"}) {
    CAPTURE(test_only);
    CHECK(shipped.find(test_only) == std::string::npos);
    CHECK(testing.find(test_only) != std::string::npos);
  }
}

TEST_CASE("the shipped ttst-supervise ignores every test variable: a commit still transfers the state") {
  // The variables that make the test variant skip the forward transfer (the empty
  // task), lose a write backward, and kill itself at the commit point.
  const std::string every_test_variable =
      "TTST_SUPERVISE_TEST_FORWARD_TASK=0 TTST_SUPERVISE_TEST_BACKWARD_TASK=102 "
      "TTST_SUPERVISE_TEST_DIE_AT=commit.past_pid TTST_SUPERVISE_TEST_BUG_IN=forward";
  Filled kv;
  Run r = supervise(pid_args(kv.server.pid, kV2), every_test_variable);
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  REQUIRE(r.report["transfers"].size() == 2);
  CHECK(r.report["transfers"][0]["objects"].get<uint64_t>() > 100);  // the real forward transfer
  CHECK(r.report["transfers"][1]["objects"].get<uint64_t>() > 100);  // the real backward one: no difference
  take_over(kv, r);
  KvClient c(kv.server.port);
  CHECK(c.command("VERSION") == "VERSION 2");
  for (int i = 0; i < 50; ++i) CHECK(c.get("key" + std::to_string(i)) == "VALUE value" + std::to_string(i));
}

TEST_CASE("internal errors exit 3 however they are raised; a bug during the plan is internal, not bad input") {
  Filled kv;
  // A bug (an unexpected exception) in the plan: P never touched.
  Run plan = supervise_testing(pid_args(kv.server.pid, kV2), "TTST_SUPERVISE_TEST_BUG_IN=plan");
  CHECK(plan.status == 3);
  CHECK(plan.report["outcome"] == "refused");
  CHECK(plan.report["reason"] == "internal");
  CHECK(plan.report["message"].get<std::string>().find("a bug simulated") != std::string::npos);
  // The same after P was seized: rolled back, P released.
  Run forward = supervise_testing(pid_args(kv.server.pid, kV2), "TTST_SUPERVISE_TEST_BUG_IN=forward");
  CHECK(forward.status == 3);
  CHECK(forward.report["outcome"] == "rolled_back");
  CHECK(forward.report["reason"] == "internal");
  CHECK(phase_names(forward).back() == "rollback");
  // Raised by the transaction itself: the agent does not know the transfer task.
  Run unknown = supervise_testing(pid_args(kv.server.pid, kV2), "TTST_SUPERVISE_TEST_FORWARD_TASK=999");
  CHECK(unknown.status == 3);
  CHECK(unknown.report["reason"] == "internal");
  CHECK(unknown.report["message"].get<std::string>().find("no state-transfer engine") != std::string::npos);
  kv.check_serving();
}

TEST_CASE("committed although the pid file cannot be rewritten: the message says so, F serves") {
  Filled kv;
  Run r = supervise(pid_args(kv.server.pid, kV2) + " --pidfile " + tmpdir() + "/no-such-dir/kv.pid");
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  CHECK(r.report["message"].get<std::string>().find("could not rewrite the pid file") != std::string::npos);
  take_over(kv, r);
  KvClient c(kv.server.port);
  CHECK(c.command("VERSION") == "VERSION 2");
  CHECK(c.get("key3") == "VALUE value3");
}
