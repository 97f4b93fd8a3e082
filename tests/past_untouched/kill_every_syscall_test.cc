// kill_every_syscall_test.cc — the shipped ttst-supervise SIGKILLed before its
// k-th system call (kill_at_syscall, polling calls not counted so that k names the
// same point in every run), k = 1, 2, ... during updates of kvserver holding
// 200,000 keys: every k up to the end of the create phase, then every STRIDE-th
// until an update completes. After each: never a zombie (P holds no child), never
// a stray or stopped process (the only process left of the attempt is the one
// server), exactly one version serving on the port, untraced, with all 200,000
// keys. A kill after the commit point leaves v2 serving: the next attempt updates
// it back to v1, and so on.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <sstream>
#include <string>
#include <vector>

#include "inject/process.h"
#include "inject/sys/proc_status.h"
#include "inject/tests/test_util.h"
#include "tests/programs/kvserver/kv_client.h"

using namespace ttst::inject;
using namespace ttst::inject::testing;
namespace sys = ttst::sys;
using namespace std::chrono;

namespace {

constexpr long kKeys = 200000;

// Runs the killer; its whole stdout.
std::string run(const std::vector<std::string>& argv) {
  // detect_leaks=0: in a sanitizer build, LeakSanitizer's exit check ptraces the
  // supervisor's own threads, which cannot work while kill_at_syscall traces it.
  std::string cmd = "env ASAN_OPTIONS=detect_leaks=0 XDG_CACHE_HOME=" + std::string(getenv("TEST_TMPDIR")) + "/cache";
  for (auto& a : argv) cmd += " '" + a + "'";
  cmd += " 2>>" + std::string(getenv("TEST_TMPDIR")) + "/stderr";
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof buf, f)) out += buf;
  pclose(f);
  return out;
}

std::string last_line(const std::string& s) {
  auto e = s.find_last_not_of('\n');
  auto b = s.rfind('\n', e);
  return s.substr(b == std::string::npos ? 0 : b + 1, e - (b == std::string::npos ? 0 : b + 1) + 1);
}

void fill(int port) {
  ttst::test::KvClient c(port);
  for (long i = 0; i < kKeys; i += 1000) {
    std::string req;
    for (long k = i; k < i + 1000; ++k) req += "SET key" + std::to_string(k) + " value" + std::to_string(k) + "\n";
    c.send(req);
    for (long k = i; k < i + 1000; ++k) REQUIRE(c.reply() == "OK");
  }
}

}  // namespace

TEST_CASE("the supervisor killed before each of its system calls: one server, its state, no zombie") {
  become_subreaper();
  const std::string supervise = runfile("supervisor/ttst-supervise");
  const std::string killer = runfile("tests/past_untouched/kill_at_syscall");
  const std::string kv[2] = {runfile("tests/programs/kvserver/kvserver_v1"),
                             runfile("tests/programs/kvserver/kvserver_v2")};
  auto server = ttst::test::KvServer::start(kv[0]);
  fill(server.port);
  pid_t S = server.pid;
  int version = 1;
  auto args = [&](long k, bool list) {
    std::vector<std::string> a = {killer};
    if (list) a.push_back("--list");
    if (k) a.insert(a.end(), {"--kill", std::to_string(k)});
    a.insert(a.end(), {"--", supervise, "--pid", std::to_string(S), "--new", kv[version == 1 ? 1 : 0],
                       "--timeout", "60s", "--report-dir", std::string(getenv("TEST_TMPDIR")) + "/reports"});
    // KILL_TEST_SUPERVISE_ARG (the BUILD's precopy variant: --precopy): one more argument.
    if (const char* extra = getenv("KILL_TEST_SUPERVISE_ARG"); extra && *extra) a.push_back(extra);
    return a;
  };

  // Where the create phase ends: the counted calls of a validate-only attempt, up
  // to P's first register write (its first remote clone) and 160 more (F forked,
  // exec'd and stopped at its loader).
  auto va = args(0, true);
  va.push_back("--validate-only");
  std::string listing = run(va);
  REQUIRE(last_line(listing).rfind("exited 0 after ", 0) == 0);
  const long total = std::stol(last_line(listing).substr(15));
  auto first = listing.find(" 101 16901 " + std::to_string(S) + "\n");
  REQUIRE(first != std::string::npos);
  const long create_k = std::stol(listing.substr(listing.rfind('\n', first) + 1));
  const long dense_end = create_k + 160;
  const long stride = std::max(1L, (total - dense_end) / 30);
  MESSAGE(total << " counted calls in a validate-only attempt; P's first remote syscall at " << create_k
                << "; every k up to " << dense_end << ", then every " << stride << "th");

  long trials = 0, commits = 0;
  for (long k = 1;; k += k < dense_end ? 1 : stride) {
    CAPTURE(k);
    CAPTURE(version);
    std::string out = last_line(run(args(k, false)));
    ++trials;
    const bool completed = out.rfind("exited ", 0) == 0;
    if (!completed) REQUIRE_MESSAGE(out.rfind("killed " + std::to_string(k) + " ", 0) == 0, out);

    // Everything the attempt made goes: R/F/I are killed (EXITKILL) and, orphaned,
    // come back to this subreaper; only the server is left.
    std::vector<pid_t> live;
    for (int i = 0; i < 2500; ++i) {
      live.clear();
      for (pid_t c : children_of(getpid())) {
        if (state_of(c) == 'Z') waitpid(c, nullptr, WNOHANG);
        else live.push_back(c);
      }
      if (live.size() == 1 && sys::proc_status_field(live[0], "TracerPid") == "0" && children_of(live[0]).empty()) break;
      usleep(2000);
    }
    REQUIRE_MESSAGE(live.size() == 1, live.size() << " processes left after the attempt (" << out << ")");
    const pid_t now = live[0];
    CHECK(sys::proc_status_field(now, "TracerPid") == "0");
    CHECK(state_of(now) != 'T');
    CHECK(state_of(now) != 't');
    CHECK_MESSAGE(children_of(now).empty(), "the server holds a child (a zombie of the attempt)");
    // It serves, as the version it should be, with every key.
    ttst::test::KvClient c(server.port);
    std::string v = c.command("VERSION");
    const int serving = v == "VERSION 2" ? 2 : v == "VERSION 1" ? 1 : 0;
    REQUIRE_MESSAGE(serving != 0, v);
    if (now == S) CHECK(serving == version);
    else CHECK(serving != version);  // committed: the new version, and P is gone
    CHECK(c.command("STATS").rfind("STATS count=" + std::to_string(kKeys) + " ", 0) == 0);
    for (long key = 7; key < kKeys; key += 9973)
      CHECK(c.get("key" + std::to_string(key)) == "VALUE value" + std::to_string(key));
    if (now != S) {
      ++commits;
      CHECK(kill(S, 0) != 0);
      S = now;
      version = serving;
    }
    if (completed) break;
  }
  MESSAGE(trials << " attempts, " << commits << " committed");
  CHECK(commits >= 1);
  kill(S, SIGKILL);
  waitpid(S, nullptr, 0);
}
