// xfer_plugin_test — user transfer code (--xfer, stfw/xfer/PLUGINS.md) end to end
// through the shipped ttst-supervise, on kvserver v2 -> v3 (v3 re-encodes every
// value as a blob: a semantic change the plan refuses without user code):
//   - without a plugin: ttst-meta plan exits 3 and the supervisor refuses, both
//     naming the objects;
//   - with the plugin (tests/programs/kvserver/kvserver_v3_xfer.c): validated, then
//     committed; v3 serves every value P held;
//   - a lossy backward function: rolled back, state_diff naming the field;
//   - a crash in a forward function: rolled back, the report names the function;
//   - a hang in a backward function: rolled back at the time limit, named;
//   - no backward function: validated, the report lists the unvalidated objects;
//   - a function registered for a type v1 lacks: rolled back (bad_input), named;
//   - a plugin calling libc: not linked by ttst-cc; forced, refused by the agent;
//   - a file that is not a plugin: refused with one line;
//   - ttst-meta xfer-skeleton: the skeleton names exactly the functions needed and
//     builds with ttst-cc --xfer-plugin.
// P keeps serving its data after every refusal and rollback.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "inject/sys/proc_status.h"
#include "tests/programs/kvserver/kv_client.h"
#include "tests/util/test_util.h"

namespace fs = std::filesystem;
using ttst::test::KvClient;
using ttst::test::KvServer;

namespace {

using ttst::testutil::tmpdir;

const std::string kSupervise = "supervisor/ttst-supervise";
const std::string kMeta = "dwarfmeta/ttst-meta";
const std::string kCc = "stfw/runtime/ttst/bin/ttst-cc";
const std::string kKv = "tests/programs/kvserver/";
const std::string kV2 = kKv + "kvserver_v2", kV3 = kKv + "kvserver_v3";
const int kKeys = 300;

// Runs `command` through the shell: exit status, stdout, stderr.
struct Ran {
  int status = -1;
  std::string out, err;
};
Ran run(const std::string& command) {
  const std::string e = tmpdir() + "/cmd.err";
  const ttst::testutil::Ran ran = ttst::testutil::run(command + " 2>" + e);
  Ran r;
  r.status = ran.status;
  r.out = ran.out;
  r.err = ttst::testutil::slurp(e);
  MESSAGE(command << " -> " << r.status << "\n" << r.err);
  return r;
}

struct Supervised {
  int status = -1;
  nlohmann::json report;
  std::string err;
};
Supervised supervise(pid_t pid, const std::string& extra) {
  Ran r = run("env XDG_CACHE_HOME=" + tmpdir() + "/cache " + kSupervise + " --json --report-dir " + tmpdir() +
              "/reports --pid " + std::to_string(pid) + " --new " + kV3 + " " + extra);
  Supervised s{r.status, nlohmann::json(), r.err};
  if (!r.out.empty()) s.report = nlohmann::json::parse(r.out);
  return s;
}

std::string value_of(int i) { return "value-" + std::to_string(i) + "-" + std::string(i % 40, 'x'); }

// kvserver v2 holding kKeys keys (one deleted, some read: hits), with an idle client.
struct Server {
  KvServer server = KvServer::start(kV2);
  Server() {
    KvClient c(server.port);
    for (int i = 0; i < kKeys; ++i) REQUIRE(c.set("k" + std::to_string(i), value_of(i)) == "OK");
    REQUIRE(c.command("DEL k3") == "DELETED");
    for (int i = 0; i < 20; ++i) REQUIRE(c.get("k" + std::to_string(i * 7)) != "");
  }
  ~Server() { server.kill_and_wait(); }
  // Every key served with its value (by whichever version runs now), and untraced.
  void check_serving(const std::string& version) {
    KvClient c(server.port);
    CHECK(c.command("VERSION") == "VERSION " + version);
    for (int i = 0; i < kKeys; ++i)
      CHECK(c.get("k" + std::to_string(i)) == (i == 3 ? "NOT_FOUND" : "VALUE " + value_of(i)));
    CHECK(c.set("after", "yes") == "OK");
    CHECK(c.get("after") == "VALUE yes");
    CHECK(ttst::sys::proc_status_field(server.pid, "TracerPid") == "0");
  }
};

}  // namespace

TEST_CASE("without a plugin: the plan exits 3 and the supervisor refuses, naming the objects") {
  Ran plan = run(kMeta + " --no-cache plan " + kV2 + " " + kV3);
  CHECK(plan.status == 3);
  CHECK(plan.out.find("kvserver.c::lru_head") != std::string::npos);
  CHECK(plan.out.find("value: retargeted char * -> struct blob *") != std::string::npos);
  Server kv;
  Supervised r = supervise(kv.server.pid, "");
  CHECK(r.status == 2);
  CHECK(r.report["reason"] == "needs_user_code");
  CHECK(r.report["message"].get<std::string>().find("kvserver.c::lru_head") != std::string::npos);
  CHECK(r.err.find("--xfer") != std::string::npos);
  kv.check_serving("2");
}

TEST_CASE("with the plugin: validated, then committed; v3 serves every value") {
  Server kv;
  Supervised v = supervise(kv.server.pid, "--validate-only --xfer " + kKv + "kvserver_v3_xfer");
  CHECK(v.status == 0);
  CHECK(v.report["reason"] == "validate_only");
  kv.check_serving("2");
  Supervised r = supervise(kv.server.pid, "--xfer " + kKv + "kvserver_v3_xfer");
  REQUIRE(r.status == 0);
  CHECK(r.report["outcome"] == "committed");
  REQUIRE(r.report["transfers"].size() == 2);
  for (const auto& t : r.report["transfers"]) {
    CHECK(t["plugin_calls"].get<uint64_t>() >= uint64_t(kKeys));  // every entry, both ways
    CHECK(t["unvalidated"].empty());
  }
  pid_t old = kv.server.pid;
  waitpid(old, nullptr, 0);
  kv.server.pid = r.report["new_pid"].get<pid_t>();
  kv.check_serving("3");
  KvClient c(kv.server.port);  // the table was rehashed into twice the buckets
  std::string stats = c.command("STATS");
  CHECK_MESSAGE(stats.find(" buckets=2048") != std::string::npos, stats);
}

TEST_CASE("a lossy backward function: rolled back, state_diff naming the field") {
  Server kv;
  Supervised r = supervise(kv.server.pid, "--xfer " + kKv + "kvserver_v3_xfer_lossy");
  CHECK(r.status == 1);
  CHECK(r.report["reason"] == "state_diff");
  bool named = false;
  for (const auto& d : r.report["differences"]) named |= d["where"] == "kvserver.c::lru_head.lru_prev";
  CHECK_MESSAGE(named, r.report["differences"].dump());
  kv.check_serving("2");
}

TEST_CASE("a crash in a forward function: rolled back, the function named") {
  Server kv;
  Supervised r = supervise(kv.server.pid, "--xfer " + kKv + "kvserver_v3_xfer_crash");
  CHECK(r.status == 1);
  CHECK(r.report["reason"] == "crash");
  CHECK(r.report["message"].get<std::string>().find("transfer plugin's fwd_struct_entry") != std::string::npos);
  CHECK(r.report["crash"]["symbol"].get<std::string>().rfind("fwd_struct_entry", 0) == 0);
  kv.check_serving("2");
}

TEST_CASE("a hang in a backward function: rolled back at the time limit, the function named") {
  Server kv;
  Supervised r = supervise(kv.server.pid, "--timeout 3s --xfer " + kKv + "kvserver_v3_xfer_hang");
  CHECK(r.status == 1);
  CHECK(r.report["reason"] == "timeout");
  const std::string m = r.report["message"];
  CHECK_MESSAGE(m.find("backward transfer did not finish in time in the transfer plugin's bwd_table on table") !=
                    std::string::npos,
                m);
  kv.check_serving("2");
}

TEST_CASE("a forward function asking for more memory than there is: rolled back, the function and size named") {
  Server kv;
  Supervised r = supervise(kv.server.pid, "--xfer " + kKv + "kvserver_v3_xfer_greedy");
  CHECK(r.status == 1);  // a rollback, not an internal error (exit 3)
  CHECK(r.report["reason"] == "resource_limit");
  const std::string m = r.report["message"];
  CHECK_MESSAGE(m.find("ran out of memory in the future process") != std::string::npos, m);
  CHECK_MESSAGE(m.find("the transfer plugin's fwd_table asked ttst_xfer_new_owned for") != std::string::npos, m);
  CHECK_MESSAGE(m.find("bucket arrays") == std::string::npos, m);  // the first failure only
  kv.check_serving("2");
}

TEST_CASE("a forward function failing (ttst_xfer_fail): rolled back, the advice names the function to correct") {
  Server kv;
  Supervised r = supervise(kv.server.pid, "--xfer " + kKv + "kvserver_v3_xfer_failing");
  CHECK(r.status == 1);
  const std::string m = r.report["message"];
  CHECK_MESSAGE(m.find("the transfer plugin's fwd_struct_entry: refused on purpose") != std::string::npos, m);
  const std::string advice = r.report.value("advice", std::string());
  CHECK_MESSAGE(advice.rfind("correct fwd_struct_entry in the transfer plugin", 0) == 0, advice);
  kv.check_serving("2");
}

TEST_CASE("no backward function: validated, the unvalidated objects listed") {
  Server kv;
  Supervised r = supervise(kv.server.pid, "--validate-only --xfer " + kKv + "kvserver_v3_xfer_forward_only");
  CHECK(r.status == 0);
  REQUIRE(r.report["transfers"].size() == 2);
  const auto& back = r.report["transfers"][1];
  CHECK(back["direction"] == "backward");
  std::string listed = back["unvalidated"].dump();
  CHECK_MESSAGE(listed.find("struct entry (300 objects)") != std::string::npos, listed);  // 299 keys + lru_head
  CHECK_MESSAGE(listed.find("struct entry.value (299 objects)") != std::string::npos, listed);
  CHECK_MESSAGE(listed.find("\"table (1 objects)") != std::string::npos, listed);
  CHECK_MESSAGE(listed.find("struct table.buckets (1 objects)") != std::string::npos, listed);
  CHECK(r.report["message"].get<std::string>().find("not validated (the transfer plugin has no backward function "
                                                    "for them): ") != std::string::npos);
  kv.check_serving("2");
}

TEST_CASE("a plugin function for a type the version does not have: rolled back, named") {
  Server kv;
  Supervised r = supervise(kv.server.pid, "--xfer " + kKv + "kvserver_v3_xfer_bad_target");
  CHECK(r.status == 1);
  CHECK(r.report["reason"] == "bad_input");
  CHECK(r.report["message"].get<std::string>().find(
            "the transfer plugin's fwd_struct_entry names type `struct nosuch`, which v1 does not have") !=
        std::string::npos);
  kv.check_serving("2");
}

TEST_CASE("a plugin that calls libc: not linked; forced, refused by the agent") {
  const std::string dir = tmpdir() + "/libc_plugin";
  fs::create_directories(dir);
  std::ofstream(dir + "/p.c") << "#include \"ttst_xfer.h\"\n"
                                 "extern int puts(const char *);\n"
                                 "static int f(struct ttst_xfer *x, const void *s, void *d) {\n"
                                 "  (void)x, (void)s, (void)d;\n  return puts(\"hi\");\n}\n"
                                 "TTST_XFER_PLUGIN(TTST_XFER_TYPE_FORWARD(\"struct entry\", f))\n";
  Ran link = run(kCc + " --xfer-plugin -o " + dir + "/p.plugin " + dir + "/p.c");
  CHECK(link.status != 0);
  CHECK(link.err.find("undefined reference to `puts'") != std::string::npos);
  REQUIRE(run(kCc + " --xfer-plugin -Wl,--unresolved-symbols=ignore-all -o " + dir + "/p.plugin " + dir + "/p.c")
              .status == 0);
  Server kv;
  Supervised r = supervise(kv.server.pid, "--xfer " + dir + "/p.plugin");
  CHECK(r.status == 1);
  CHECK(r.report["reason"] == "bad_input");
  CHECK(r.report["message"].get<std::string>().find("a symbol no one provides") != std::string::npos);
  kv.check_serving("2");
}

TEST_CASE("a file that is not a plugin: refused in one line") {
  Server kv;
  const std::string bogus = tmpdir() + "/not_a_plugin";
  std::ofstream(bogus) << "int main;\n";
  Supervised r = supervise(kv.server.pid, "--xfer " + bogus);
  CHECK(r.status == 2);
  CHECK(r.report["reason"] == "bad_input");
  CHECK(r.err.find("is not an ELF file") != std::string::npos);
  kv.check_serving("2");
}

TEST_CASE("xfer-skeleton: exactly the functions needed, and it builds") {
  const std::string dir = tmpdir() + "/skeleton";
  fs::create_directories(dir);
  Ran gen = run(kMeta + " --no-cache xfer-skeleton " + kV2 + " " + kV3 + " --out " + dir + " --force");
  REQUIRE(gen.status == 0);
  CHECK(gen.out.find("2 functions to fill in") != std::string::npos);
  std::ifstream f(dir + "/xfer.c");
  std::string c((std::istreambuf_iterator<char>(f)), {});
  CHECK(c.find("TTST_XFER_TYPE_FORWARD(\"struct entry\", fwd_struct_entry)") != std::string::npos);
  CHECK(c.find("TTST_XFER_TYPE_BACKWARD(\"struct entry\", bwd_struct_entry)") != std::string::npos);
  CHECK(c.find("TTST_XFER_OWNS(\"struct entry.value\")") != std::string::npos);
  CHECK(c.find("ttst_xfer_member(x, \"key\")") != std::string::npos);
  CHECK(c.find("TODO value") != std::string::npos);
  Ran cc = run(kCc + " --xfer-plugin -Wall -Werror -o " + dir + "/xfer.plugin " + dir + "/xfer.c");
  CHECK(cc.status == 0);
  // A header that no longer matches the binaries does not compile.
  std::ofstream(dir + "/wrong.c") << "#include \"ttst_xfer_types.h\"\n"
                                     "_Static_assert(sizeof(v1_struct_entry) == 64, \"kvserver v2's entry\");\n"
                                     "_Static_assert(sizeof(v2_struct_entry) == 48, \"kvserver v3's entry\");\n"
                                     "TTST_XFER_PLUGIN()\n";
  CHECK(run(kCc + " --xfer-plugin -o " + dir + "/ok.plugin " + dir + "/wrong.c").status == 0);
  std::string header;
  {
    std::ifstream h(dir + "/ttst_xfer_types.h");
    header.assign(std::istreambuf_iterator<char>(h), {});
  }
  size_t at = header.find("== 64, \"v1_struct_entry: size");
  REQUIRE(at != std::string::npos);
  header.replace(at, 5, "== 65");
  std::ofstream(dir + "/ttst_xfer_types.h", std::ios::trunc) << header;
  Ran bad = run(kCc + " --xfer-plugin -o " + dir + "/bad.plugin " + dir + "/xfer.c");
  CHECK(bad.status != 0);
  CHECK(bad.err.find("v1_struct_entry: size differs from DWARF") != std::string::npos);
}
