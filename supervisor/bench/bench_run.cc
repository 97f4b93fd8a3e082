// bench_run — see bench_run.h.
#include "supervisor/bench/bench_run.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "supervisor/bench/supervise_run.h"
#include "tests/programs/bankserver/bank_client.h"

namespace ttst::bench {
namespace {

std::string supervise_command(pid_t pid, Mode mode, const Options& o) {
  return "supervisor/ttst-supervise --report-dir /tmp/ttst-bench-reports --pid " + std::to_string(pid) +
         " --new tests/programs/bankserver/bankserver_v2" + (o.commit ? "" : " --validate-only") +
         (mode == Mode::kForwardOnly ? " --forward-only" : "") + (mode == Mode::kPrecopy ? " --precopy" : "");
}

void wait_for_requests(const TrafficClient& c, long n) {
  for (long until = c.requests() + n; c.requests() < until && c.bad_replies() == 0;)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

// A string member of the report; `absent` when missing or null (a committed
// report's reason is null).
std::string text(const nlohmann::json& j, const char* key, const std::string& absent) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : absent;
}

// The report's figures into the sample.
void read_report(const nlohmann::json& rep, Sample& s) {
  s.total = rep.value("total_ms", 0.0);
  s.stall = rep.value("stall_ms", 0.0);
  s.outcome = text(rep, "outcome", "");
  s.new_pid = rep.contains("new_pid") && rep["new_pid"].is_number() ? rep["new_pid"].get<pid_t>() : 0;
  if (rep.contains("precopy")) {
    s.verdict = text(rep["precopy"], "verdict", "");
    s.verdict_detail = text(rep["precopy"], "detail", "");
    s.phases["precopy.first_stop"] = rep["precopy"].value("first_stop_ms", 0.0);
    s.phases["precopy.second_stop"] = rep["precopy"].value("second_stop_ms", 0.0);
    for (const auto& step : rep["precopy"].value("steps_ms", nlohmann::json::array()))
      s.phases["precopy." + step[0].get<std::string>()] = step[1].get<double>();
  }
  for (const auto& p : rep.value("phases", nlohmann::json::array())) {
    s.phases[p["name"]] += p["ms"].get<double>();
    s.phase_list.emplace_back(p["name"], p["ms"].get<double>());
  }
  for (const auto& t : rep.value("transfers", nlohmann::json::array())) {
    const std::string dir = t["direction"].get<std::string>();
    s.phases[dir + ".cpu"] = t.value("cpu_ms", 0.0);  // the agent's CPU time
    for (const auto& p : t.value("agent_phases", nlohmann::json::array()))
      s.phases[dir + "." + p["name"].get<std::string>()] = p["ms"].get<double>();
  }
}

// P idle for comparison: the same client, no update running, as long as the round.
LatencySummary idle_latencies(int port, long accounts, const Options& o, double duration_ms) {
  TrafficClient c(port, o.traffic, accounts);
  wait_for_requests(c, 100);
  const double from = now_ms();
  std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(std::max(duration_ms, 100.0)));
  const double to = now_ms();
  c.stop();
  return summarize(latencies_within(c.log(), from, to));
}

}  // namespace

const char* mode_name(Mode m) {
  return m == Mode::kTtst ? "TTST" : m == Mode::kForwardOnly ? "forward-only" : "TTST --precopy";
}

Sample run_once(pid_t pid, int port, long accounts, Mode mode, const Options& o) {
  Sample s;
  s.mode = mode;
  s.load = loadavg();
  s.memory_before = meminfo_now();
  const auto vm_before = vmstat_now();
  std::optional<TrafficClient> client;
  if (!o.idle) client.emplace(port, o.traffic, accounts);
  MemorySampler memory(pid, o.sample_ms);
  if (client) wait_for_requests(*client, 100);  // the client is in its stride
  const SuperviseRun run = run_supervisor(supervise_command(pid, mode, o));
  if (client) {
    wait_for_requests(*client, 100);
    client->stop();
  }
  memory.stop();
  s.vmstat = vmstat_delta(vm_before, vmstat_now());
  s.reason = run.report.empty() ? "(no report: " + run.last_line + ")" : text(run.report, "reason", "");
  read_report(run.report, s);
  if (s.reason.empty()) s.reason = s.outcome;  // committed
  s.peak_rss = memory.peak_rss_kib();
  s.peak_pss = memory.peak_pss_kib();
  const auto roles = process_roles(pid, memory.seen(), mode == Mode::kPrecopy);
  for (const auto& [p, m] : memory.at_peak()) s.peak_by_role[roles.count(p) ? roles.at(p) : "?"] = m;
  for (const auto& [p, seen] : memory.seen())
    if (roles.count(p) && roles.at(p) != "v1 clone") s.stat_by_role[roles.at(p)] = seen.last;
  if (!client) return s;
  s.client_stall = largest_gap_ms(client->log(), client->start_ms());
  s.requests = client->requests();
  s.bad_replies = client->bad_replies();
  if (const auto round = precopy_round(run.ends)) {
    s.round_ms = round->second - round->first;
    s.round = summarize(latencies_within(client->log(), round->first, round->second));
    s.idle_p = idle_latencies(port, accounts, o, s.round_ms);
  }
  return s;
}

namespace {

// After a committed run: the old version has ended (our child), the new one serves
// as another process (not ours: ended by signal and awaited through /proc).
void end_servers(ttst::test::BankServer& server, pid_t new_pid) {
  server.kill_and_wait();
  if (new_pid <= 0) return;
  std::ifstream comm("/proc/" + std::to_string(new_pid) + "/comm");
  std::string name;
  if (!(comm >> name) || name.rfind("bankserver_v", 0) != 0) return;
  ::kill(new_pid, SIGKILL);
  for (int i = 0; i < 10000 && std::filesystem::exists("/proc/" + std::to_string(new_pid)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

ttst::test::BankServer start_server(long accounts, SizeResult& r) {
  auto server = ttst::test::BankServer::start("tests/programs/bankserver/bankserver_v1", accounts,
                                              std::chrono::minutes(10));
  r.p_rss_kib = proc_kib(slurp("/proc/" + std::to_string(server.pid) + "/status"), "VmRSS:");
  return server;
}

}  // namespace

SizeResult measure(long accounts, const Options& o) {
  SizeResult r;
  r.accounts = accounts;
  r.load_before = loadavg();
  std::optional<ttst::test::BankServer> server;
  std::vector<Mode> modes{Mode::kTtst, Mode::kForwardOnly};
  if (o.precopy) modes.push_back(Mode::kPrecopy);
  for (int i = 0; i < o.runs; ++i)
    for (size_t k = 0; k < modes.size(); ++k) {  // rotated: another mode first in each round
      const Mode mode = modes[(i + k) % modes.size()];
      if (!server) server = start_server(accounts, r);
      if (o.pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.pause_ms));
      Sample s = run_once(server->pid, server->port, accounts, mode, o);
      s.run = i + 1;
      std::fprintf(stderr, "  %ld accounts, %s run %d: %s%s%s, total %.0f ms, client stall %.0f ms, supervisor stall "
                   "%.0f ms, peak PSS %ld MiB\n", accounts, mode_name(mode), i + 1, s.reason.c_str(),
                   s.verdict.empty() ? "" : ", pre-copy ", s.verdict.c_str(), s.total, s.client_stall, s.stall,
                   s.peak_pss >> 10);
      if (!s.verdict_detail.empty()) std::fprintf(stderr, "    pre-copy: %s\n", s.verdict_detail.c_str());
      if (o.commit) {  // P restarted for each committed update
        end_servers(*server, s.outcome == "committed" ? s.new_pid : 0);
        server.reset();
      }
      (mode == Mode::kTtst ? r.ttst : mode == Mode::kForwardOnly ? r.forward_only : r.precopy).push_back(s);
    }
  if (server) server->kill_and_wait();
  r.load_after = loadavg();
  return r;
}

}  // namespace ttst::bench
