// startup_files_test — v2's unmodified start-up truncating its log with
// fopen("w"), rewriting its pid file, creating a file and removing another
// (supervisor/tests/files.c) leaves the old version's files exactly as they were
// under --validate-only, a rollback (v2 aborting after its start-up), a refusal
// (daemonising, renaming, truncating) and the supervisor SIGKILLed at points
// before and during v2's start-up and up to the end; a commit puts v2's files in
// place (its log is the file at the path, its pid file names it) and closes the
// old version's epoll instance, pipe and socket pair in the new process
// (startup_files.h).
#include <doctest/doctest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/util/test_util.h"

namespace {

using ttst::testutil::tmpdir;
using ttst::testutil::await;
// The bound of every await here (its conditions' worst case on a loaded box).
constexpr std::chrono::milliseconds kAwait{20000};

const std::string kSupervise = "supervisor/ttst-supervise";
const std::string kKiller = "tests/past_untouched/kill_at_syscall";
const std::string kDir = "supervisor/tests/";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "<none>";
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool exists(const std::string& path) {
  struct stat st{};
  return lstat(path.c_str(), &st) == 0;
}

// Every process whose command line names `dir` (the servers of one test), killed.
void kill_servers_of(const std::string& dir) {
  DIR* proc = opendir("/proc");
  while (dirent* e = readdir(proc)) {
    const pid_t pid = std::atoi(e->d_name);
    if (pid <= 0 || pid == getpid()) continue;
    std::string cmdline = slurp("/proc/" + std::to_string(pid) + "/cmdline");
    if (cmdline.find(dir + '\0') != std::string::npos) ::kill(pid, SIGKILL);
  }
  closedir(proc);
}

// True while a process other than `except` runs with `dir` on its command line.
bool other_server_of(const std::string& dir, pid_t except) {
  bool found = false;
  DIR* proc = opendir("/proc");
  while (dirent* e = readdir(proc)) {
    const pid_t pid = std::atoi(e->d_name);
    if (pid <= 0 || pid == except) continue;
    const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    const size_t paren = stat.rfind(") ");
    const bool zombie = paren == std::string::npos || stat[paren + 2] == 'Z' || stat[paren + 2] == 'X';
    if (!zombie && slurp("/proc/" + std::to_string(pid) + "/cmdline").find(dir + '\0') != std::string::npos)
      found = true;
  }
  closedir(proc);
  return found;
}

// files_v1 running in a directory of its own, with the files the test gives it: a
// shared log with one line of P's, a stale file v2 removes.
struct Server {
  std::string dir;
  pid_t pid = -1;
  explicit Server(const std::string& name) : dir(tmpdir() + "/" + name) {
    REQUIRE(std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str()) == 0);
    std::ofstream(dir + "/shared.log") << "p line\n";
    std::ofstream(dir + "/stale") << "stale\n";
    std::ofstream(dir + "/data") << "0123456789\n";
    pid = fork();
    if (pid == 0) {
      execl((kDir + "files_v1").c_str(), "files_v1", dir.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    REQUIRE(await([&] { return slurp(dir + "/app.pid") == std::to_string(pid) + "\n"; }, kAwait));
    REQUIRE(slurp(dir + "/app.log") == "v1 started\n");
  }
  ~Server() {
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    kill_servers_of(dir);
  }
  bool alive() const { return waitpid(pid, nullptr, WNOHANG) == 0; }
  // Everything P relies on, as P made it; v2's appended line allowed in the shared log.
  void check_untouched() const {
    CHECK(alive());
    CHECK(slurp(dir + "/app.log") == "v1 started\n");
    CHECK(slurp(dir + "/app.pid") == std::to_string(pid) + "\n");
    CHECK(slurp(dir + "/stale") == "stale\n");
    CHECK(slurp(dir + "/data") == "0123456789\n");
    CHECK(!exists(dir + "/v2.state"));
    CHECK(slurp(dir + "/shared.log").rfind("p line\n", 0) == 0);
    DIR* d = opendir(dir.c_str());  // nothing else left behind (no temporary names)
    int entries = 0;
    while (dirent* e = readdir(d)) entries += e->d_name[0] != '.';
    closedir(d);
    CHECK(entries == 5);
  }
};

struct Run {
  int status = -1;
  nlohmann::json report;
};

Run supervise(const Server& p, const std::string& v2, const std::string& extra = "") {
  const std::string cmd = "env XDG_CACHE_HOME=" + tmpdir() + "/cache " + kSupervise + " --json --report-dir " +
                          tmpdir() + "/reports --pid " + std::to_string(p.pid) + " --new " + kDir + v2 + " " + extra +
                          " 2>>" + tmpdir() + "/supervise.err";
  const ttst::testutil::Ran ran = ttst::testutil::run(cmd);
  Run r;
  r.status = ran.status;
  r.report = ttst::testutil::json_report(ran.out);
  MESSAGE(cmd << " -> " << r.status << "\n" << r.report.dump(1));
  return r;
}

// The report's startup_actions entry whose call contains `call`.
nlohmann::json action(const Run& r, const std::string& call) {
  for (const auto& a : r.report["startup_actions"])
    if (a["call"].get<std::string>().find(call) != std::string::npos) return a;
  return nullptr;
}

// kill_at_syscall's whole output for an update of `p` to files_v2.
// detect_leaks=0: in a sanitizer build, LeakSanitizer's exit check ptraces the
// supervisor's own threads, which cannot work while kill_at_syscall traces it.
std::string killer(const Server& p, const std::string& args) {
  const std::string cmd = "env ASAN_OPTIONS=detect_leaks=0 XDG_CACHE_HOME=" + tmpdir() + "/cache " + kKiller + " " + args + " -- " + kSupervise +
                          " --json --report-dir " + tmpdir() + "/reports --pid " + std::to_string(p.pid) + " --new " +
                          kDir + "files_v2 2>>" + tmpdir() + "/supervise.err";
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof buf, f)) out += buf;
  pclose(f);
  return out;
}

std::string last_line(const std::string& s) {
  const size_t end = s.find_last_not_of('\n');
  if (end == std::string::npos) return "";
  const size_t begin = s.rfind('\n', end);
  return s.substr(begin == std::string::npos ? 0 : begin + 1, end - (begin == std::string::npos ? 0 : begin + 1) + 1);
}

// The first counted call that resumes F system call by system call (ptrace
// PTRACE_SYSCALL of a process other than P): where v2's start-up begins.
int startup_begins(const std::string& listing, pid_t past) {
  std::istringstream in(listing);
  for (std::string line; std::getline(in, line);) {
    long n = 0, nr = 0, request = 0, pid = 0;
    if (std::sscanf(line.c_str(), "%ld %ld %ld %ld", &n, &nr, &request, &pid) == 4 && nr == SYS_ptrace &&
        request == PTRACE_SYSCALL && pid != past)
      return static_cast<int>(n);
  }
  return 0;
}

}  // namespace

TEST_CASE("--validate-only and a rollback leave the old version's log, pid file and directory as they were") {
  Server p("validate");
  Run r = supervise(p, "files_v2", "--validate-only");
  CHECK(r.status == 0);
  CHECK(action(r, "app.log")["action"] == "staged");
  CHECK(action(r, "app.pid")["action"] == "staged");
  CHECK(action(r, "v2.state")["action"] == "staged");
  CHECK(action(r, "unlink")["action"] == "deferred");
  CHECK(action(r, "shared.log")["action"] == "shared");
  CHECK(action(r, "data")["action"] == "staged");
  CHECK(action(r, "data")["detail"].get<std::string>().find("copy") != std::string::npos);
  p.check_untouched();
  CHECK(slurp(p.dir + "/shared.log") == "p line\nv2 appended\n");  // appending is shared (startup_files.h)
  r = supervise(p, "files_v2_crash");
  CHECK(r.status == 1);
  CHECK(r.report["reason"] == "startup_crash");
  CHECK(action(r, "app.log")["action"] == "staged");
  p.check_untouched();
}

TEST_CASE("a commit puts v2's files in place and closes the old version's epoll instance, pipe and socket pair") {
  Server p("commit");
  Run r = supervise(p, "files_v2");
  REQUIRE(r.status == 0);
  const pid_t f = r.report["new_pid"].get<pid_t>();
  for (const char* name : {"app.log", "app.pid", "v2.state", "unlink", "data,"})
    CHECK(action(r, name)["action"] == "made_at_commit");
  CHECK(slurp(p.dir + "/app.pid") == std::to_string(f) + "\n");  // v2's own pid file: it names F
  CHECK(await([&] { return slurp(p.dir + "/app.log") == "v2 started\nv2 serving\n"; }, kAwait));  // F's writes reach it
  CHECK(!exists(p.dir + "/stale"));
  CHECK(exists(p.dir + "/v2.state"));
  CHECK(slurp(p.dir + "/data") == "AB23456789\n");  // v2's bytes over the old content
  CHECK(slurp(p.dir + "/v2.id") == "v2\n");        // written under a temporary name, renamed
  CHECK(!exists(p.dir + "/v2.id.tmp"));
  CHECK(!exists(p.dir + "/lock"));                    // made and removed by v2: linked, then unlinked
  CHECK(action(r, "unlink(" + p.dir + "/lock)")["action"] == "made_at_commit");
  // P's epoll instance (fd 4), pipe (5, 6), socket pair (7, 8) and replaced log (fd 3)
  // are kept in F: the transferred state may name them by number (only a library
  // adapter can say a descriptor is unused; none is involved here).
  CHECK(action(r, "fd 4 (anon_inode:[eventpoll])")["action"] == "kept");
  CHECK(action(r, "fd 4 (anon_inode:[eventpoll])")["detail"].get<std::string>().find("may still name it") !=
        std::string::npos);
  CHECK(action(r, "fd 5 (pipe:")["action"] == "kept");
  CHECK(action(r, "fd 3 (")["action"] == "kept");
  CHECK(action(r, "fd 7 (socket:")["action"] == "kept");
  CHECK(action(r, "fd 8 (socket:")["action"] == "kept");
  CHECK(action(r, "fd 0 (")["action"] == "kept");
  for (int fd : {3, 4, 5, 6, 7, 8}) CHECK(exists("/proc/" + std::to_string(f) + "/fd/" + std::to_string(fd)));
  ::kill(f, SIGKILL);
}

TEST_CASE("a daemonising, renaming or truncating start-up is refused before it changes anything") {
  Server p("refused");
  Run r = supervise(p, "files_v2_daemon");
  CHECK(r.status == 1);
  CHECK(r.report["reason"] == "startup_side_effect");
  CHECK(r.report["message"].get<std::string>().find("creates a process") != std::string::npos);
  p.check_untouched();
  r = supervise(p, "files_v2_rename");
  CHECK(r.status == 1);
  CHECK(r.report["reason"] == "startup_side_effect");
  CHECK(r.report["message"].get<std::string>().find("rename(") != std::string::npos);
  p.check_untouched();
  r = supervise(p, "files_v2_ftruncate");
  CHECK(r.status == 1);
  CHECK(r.report["reason"] == "startup_side_effect");
  CHECK(r.report["message"].get<std::string>().find("ftruncate(") != std::string::npos);
  p.check_untouched();
  CHECK(slurp(p.dir + "/shared.log").find("p line\n") == 0);
}

TEST_CASE("the supervisor SIGKILLed at points spread over an update: P's files untouched while P serves") {
  int total = 0, startup = 0;
  {
    Server p("count");
    const std::string listing = killer(p, "--list --kill 1000000000");
    REQUIRE(std::sscanf(last_line(listing).c_str(), "exited 0 after %d", &total) == 1);
    startup = startup_begins(listing, p.pid);
    REQUIRE(startup > 0);
  }
  // Half the points from the start to v2's start-up, half from there to the end:
  // the staged and deferred actions are held while the second half begins.
  constexpr int kPoints = 12;
  int past_kept = 0;
  for (int i = 1; i <= kPoints; ++i) {
    const int k = i <= kPoints / 2 ? startup * i / (kPoints / 2 + 1)
                                   : startup + (total - startup) * (i - kPoints / 2) / (kPoints / 2 + 1);
    Server p("kill" + std::to_string(k));
    const std::string last = last_line(killer(p, "--kill " + std::to_string(k)));
    MESSAGE("kill at " << k << " of " << total << ": " << last);
    // The supervisor is gone: exactly one version settles (F killed with its tracer
    // before the commit, P ended after it). While P serves, its files are untouched.
    REQUIRE(await([&] { return !p.alive() || !other_server_of(p.dir, p.pid); }, kAwait));
    if (p.alive()) {
      ++past_kept;
      p.check_untouched();
    }
  }
  CHECK(past_kept > 0);
}
