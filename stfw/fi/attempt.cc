// attempt.cc — run_update (campaign.h): one update attempt under ttst-supervise
// and its classification. The oracle runs on v1 before the update and on whatever
// serves after it (v2 after a commit, v1 after a rollback); both outputs must be
// equal: after a commit, a difference is corruption ttst did not detect; after a
// rollback, one is harm to the past version (a ttst failure).
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "stfw/fi/campaign.h"
#include "stfw/fi/process.h"

namespace ttst::fi {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

std::string first_line(const std::string &s) {
  std::string l = s.substr(0, s.find('\n'));
  return l.size() > 300 ? l.substr(0, 300) + "..." : l;
}

std::string class_of_reason(const std::string &reason) {
  if (reason == "crash" || reason == "startup_crash") return "crash";
  if (reason == "timeout" || reason == "hang") return "hang";
  if (reason == "invariant" || reason == "bad_input") return "invariant";
  if (reason == "state_diff") return "state_diff";
  if (reason == "internal") return "ttst_failure";
  return "other";
}

// v1 serving on a fresh port, loaded by the workload: its pid and port.
struct Server {
  pid_t pid = -1;
  int port = -1;
};

bool start_loaded(const Config &c, const std::string &dir, Server *s, std::string *why) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    s->port = free_port();
    std::map<std::string, std::string> v = {{"old", dir + "/old"}, {"port", std::to_string(s->port)}};
    s->pid = spawn(expand(c.start, v), dir + "/server.log");
    if (wait_listening(s->port, s->pid, milliseconds(15000))) {
      Ran w = run_shell(expand(c.workload, v), milliseconds(120000), dir + "/workload.err");
      if (w.status == 0) return true;
      *why = "the workload failed (exit " + std::to_string(w.status) + ", " + dir + "/workload.err)";
      kill_and_reap(s->pid);
      return false;
    }
    kill_and_reap(s->pid);  // the port was taken meanwhile, or it did not start
  }
  *why = "v1 did not start listening (" + dir + "/server.log)";
  return false;
}

Ran oracle(const Config &c, const std::string &dir, int port) {
  return run_shell(expand(c.oracle, {{"port", std::to_string(port)}, {"old", dir + "/old"}}), milliseconds(60000),
                   dir + "/oracle.err");
}

// After a commit, the new version's oracle output against v1's.
void judge_commit(const Config &c, const std::string &dir, int port, const std::string &before, Outcome *o) {
  Ran after = oracle(c, dir, port);
  if (after.status == 0 && after.out == before) {
    o->cls = "benign";
    return;
  }
  o->cls = "UNDETECTED";
  o->detail = after.status != 0 ? "the oracle failed on v2 (exit " + std::to_string(after.status) + ")"
                                : "v1: " + first_line(before) + " | v2: " + first_line(after.out);
}

std::string supervise_command(const Config &c, Mode mode, const std::string &dir, pid_t pid,
                              const std::string &plugin) {
  std::string cmd = quote(c.supervise) + " --json --report-dir " + quote(dir + "/reports") + " --pid " +
                    std::to_string(pid) + " --new " + quote(dir + "/new") + " --timeout " +
                    std::to_string(c.timeout.count()) + "ms";
  if (!plugin.empty()) cmd += " --xfer " + quote(plugin);
  if (mode == Mode::kForwardOnly) cmd += " --forward-only";
  if (mode == Mode::kProbe || mode == Mode::kProbeForward) cmd += " --validate-only";
  if (mode == Mode::kProbeForward) cmd += " --forward-only";
  return cmd + (c.supervise_args.empty() ? "" : " " + c.supervise_args);
}

// The report's outcome into `o`; the new version's pid when one serves.
pid_t read_report(const Ran &r, Outcome *o) {
  o->exit = r.status;
  nlohmann::json j;
  try {
    if (!r.out.empty()) j = nlohmann::json::parse(r.out);
  } catch (const std::exception &) {
  }
  if (!j.is_object()) {
    o->cls = "ttst_failure";
    o->reason = r.status < 0 ? "supervisor_timeout" : "no_report";
    o->detail = "ttst-supervise exited " + std::to_string(r.status) + " without a report";
    return 0;
  }
  std::string outcome = j.value("outcome", "");
  o->reason = j["reason"].is_string() ? j["reason"].get<std::string>() : "";
  o->detail = first_line(j.value("message", ""));
  if (j.contains("crash") && j["crash"].is_object()) o->crash_signal = j["crash"].value("signal_name", "");
  if (r.status == 3) o->cls = "ttst_failure";
  else if (outcome == "committed" && r.status == 0) o->cls = "committed";
  else if (outcome == "refused") o->cls = "refused";
  else if (outcome == "rolled_back" || outcome == "rolled_back_after_commit") o->cls = class_of_reason(o->reason);
  else o->cls = "ttst_failure", o->reason = "unexpected_outcome_" + outcome;
  return j.value("new_pid", 0);
}

}  // namespace

Outcome run_update(const Config &c, Mode mode, const std::string &new_exe, const std::string &plugin,
                   const std::string &dir, int slot) {
  Outcome o;
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::copy_file(c.old_exe, dir + "/old", fs::copy_options::overwrite_existing, ec);
  fs::copy_file(new_exe, dir + "/new", fs::copy_options::overwrite_existing, ec);
  Server s;
  std::string why;
  if (ec || !start_loaded(c, dir, &s, &why)) {
    o.cls = "setup_failed", o.detail = ec ? "cannot copy the executables: " + ec.message() : why;
    return o;
  }
  Ran before = oracle(c, dir, s.port);
  if (before.status != 0) {
    kill_and_reap(s.pid);
    o.cls = "setup_failed", o.detail = "the oracle failed on v1 (" + dir + "/oracle.err)";
    return o;
  }
  std::map<std::string, std::string> env = {{"XDG_CACHE_HOME", c.out + "/cache/" + std::to_string(slot)}};
  Ran r = run_shell(supervise_command(c, mode, dir, s.pid, plugin), c.timeout + milliseconds(60000),
                    dir + "/supervise.err", env);
  pid_t new_pid = read_report(r, &o);
  bool probe = mode == Mode::kProbe || mode == Mode::kProbeForward;
  if (!probe && o.cls == "committed") {
    judge_commit(c, dir, s.port, before.out, &o);
  } else if (!probe && new_pid <= 0) {  // not committed: v1 must serve as before
    Ran after = oracle(c, dir, s.port);
    if (after.status != 0 || after.out != before.out)
      o.reason = "past_harmed:" + o.cls + (o.reason.empty() ? "" : ":" + o.reason), o.cls = "ttst_failure",
      o.detail = "after the rollback v1 answers " + first_line(after.out) + " instead of " + first_line(before.out);
    else if (o.cls == "ttst_failure")
      o.detail += " (v1 serves as before)";
  }
  if (new_pid > 0) kill_and_reap(new_pid);
  kill_and_reap(s.pid);
  std::vector<pid_t> strays = processes_under(dir);
  for (pid_t p : strays) kill_and_reap(p);
  if (!strays.empty() && o.cls != "ttst_failure")
    o.reason = "stray_process:" + o.cls, o.cls = "ttst_failure",
    o.detail = std::to_string(strays.size()) + " process(es) of the attempt left running: " + o.detail;
  return o;
}

}  // namespace ttst::fi
