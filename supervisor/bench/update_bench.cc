// update_bench — downtime at scale (issue 15): ttst-supervise updating bankserver
// (tests/programs/bankserver) v1 -> v2 at several state sizes, TTST against
// --forward-only, with what a client feels. Prints figures and draws the paper's
// Figure 5 analogue; not a test (no timing is asserted anywhere).
//
//   bazel run -c opt //supervisor/bench:update_bench -- [--sizes 10000,100000,1000000]
//       [--runs 5] [--png /tmp/update_bench.png] [--precopy 1] [--idle 1]
//
// Per size: bankserver v1 started with that many accounts preloaded; then `runs`
// rounds, each one TTST run (--validate-only: plan, quiesce, F, forward, R, backward,
// diff, rolled back) and one --forward-only run, their order alternated round by
// round. --validate-only keeps P, so every run starts from the same state; its stall
// is P stopped until the rollback resumes it (a commit's ends when F is released:
// about the same stop window). During each run:
// - a client sends requests back to back on one connection (BAL, one reply line
//   each); its largest gap between two replies is the stall it saw;
// - a sampler reads RSS and PSS (smaps_rollup) of P, F and R every 100 ms: the
//   peak of their sum is the memory figure.
// --precopy 1 adds a third run to each round, TTST with --precopy (supervisor/README
// "Pre-copy"), in the rotated order; its verdicts are counted. --idle 1 sends no
// requests during the runs (P idle, as pre-copy's best case): the stall is then
// the supervisor's own figure only.
// The default time limit is used (no --timeout: supervisor/time_limit.h). Medians
// over the runs; the machine's load average before and after each size.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "stfw/fi/png_chart.h"
#include "tests/programs/bankserver/bank_client.h"
#include "tests/programs/kvserver/kv_client.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "Key:   1234 kB" in a /proc file, in KiB (0 when absent).
long proc_kib(const std::string& text, const std::string& key) {
  size_t at = text.find("\n" + key);
  if (at == std::string::npos) at = text.rfind(key, 0) == 0 ? 0 : std::string::npos;
  if (at == std::string::npos) return 0;
  return std::atol(text.c_str() + text.find(':', at) + 1);
}

// P, and F and R: the supervisor makes them as grandchildren of P through a reaped
// intermediate (inject/process_factory.cc), so they are found by name and tracer:
// bankserver processes other than P that are being traced.
std::vector<pid_t> family(pid_t p) {
  std::vector<pid_t> pids{p};
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos || std::atol(name.c_str()) == p) continue;
    const std::string status = slurp(e.path().string() + "/status");
    if (status.rfind("Name:\tbankserver_v", 0) == 0 && proc_kib(status, "TracerPid:") != 0)
      pids.push_back(std::atol(name.c_str()));
  }
  return pids;
}

// The peak RSS and PSS sums of P + F + R while it runs.
class MemorySampler {
 public:
  explicit MemorySampler(pid_t p) : thread_([this, p] { loop(p); }) {}
  ~MemorySampler() { stop(); }
  void stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  long peak_rss_kib() const { return rss_; }
  long peak_pss_kib() const { return pss_; }

 private:
  void loop(pid_t p) {
    while (!done_) {
      long rss = 0, pss = 0;
      for (pid_t q : family(p)) {
        const std::string proc = "/proc/" + std::to_string(q);
        rss += proc_kib(slurp(proc + "/status"), "VmRSS:");
        pss += proc_kib(slurp(proc + "/smaps_rollup"), "Pss:");
      }
      rss_ = std::max(rss_.load(), rss);
      pss_ = std::max(pss_.load(), pss);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a sampling interval (smaps_rollup walks the page tables)
    }
  }
  std::atomic<bool> done_{false};
  std::atomic<long> rss_{0}, pss_{0};
  std::thread thread_;
};

// A client sending requests back to back on one connection: its largest gap
// between two replies.
class StallProbe {
 public:
  StallProbe(int port) : client_(port), thread_([this] { loop(); }) {}
  ~StallProbe() { stop(); }
  void stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  double largest_gap_ms() const { return gap_; }
  long requests() const { return requests_; }

 private:
  void loop() {
    Clock::time_point last = Clock::now();
    while (!done_) {
      if (client_.command("BAL acct1").rfind("BALANCE ", 0) != 0) std::fprintf(stderr, "stall probe: bad reply\n");
      const Clock::time_point now = Clock::now();
      gap_ = std::max(gap_.load(), ms_between(last, now));
      last = now;
      ++requests_;
    }
  }
  ttst::test::KvClient client_;
  std::atomic<bool> done_{false};
  std::atomic<double> gap_{0};
  std::atomic<long> requests_{0};
  std::thread thread_;
};

// The three kinds of run of a round.
enum class Mode { kTtst, kForwardOnly, kPrecopy };

const char* mode_name(Mode m) {
  return m == Mode::kTtst ? "TTST" : m == Mode::kForwardOnly ? "forward-only" : "TTST --precopy";
}

struct Sample {
  double total = 0, client_stall = 0, stall = 0;
  std::string verdict;  // --precopy: the report's precopy verdict
  std::map<std::string, double> phases;  // the supervisor's phases; "forward.copy" etc.: the agents'
  long peak_rss = 0, peak_pss = 0;
  std::string reason;
};

Sample run_once(pid_t pid, int port, Mode mode, bool idle) {
  const std::string cmd = "supervisor/ttst-supervise --json --report-dir /tmp/ttst-bench-reports --pid " +
                          std::to_string(pid) + " --new tests/programs/bankserver/bankserver_v2 --validate-only" +
                          (mode == Mode::kForwardOnly ? " --forward-only" : "") +
                          (mode == Mode::kPrecopy ? " --precopy" : "") + " 2>/tmp/ttst-bench.err";
  std::optional<StallProbe> probe;
  if (!idle) probe.emplace(port);
  MemorySampler memory(pid);
  while (probe && probe->requests() < 100) std::this_thread::yield();  // the client is in its stride
  FILE* f = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t k; (k = fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, k);
  pclose(f);
  if (probe) {
    for (long until = probe->requests() + 100; probe->requests() < until;) std::this_thread::yield();
    probe->stop();
  }
  memory.stop();
  Sample s;
  s.client_stall = probe ? probe->largest_gap_ms() : 0;
  s.peak_rss = memory.peak_rss_kib();
  s.peak_pss = memory.peak_pss_kib();
  const nlohmann::json rep = nlohmann::json::parse(out.empty() ? "{}" : out);
  s.reason = rep.value("reason", "(no report: " + slurp("/tmp/ttst-bench.err") + ")");
  s.total = rep.value("total_ms", 0.0);
  s.stall = rep.value("stall_ms", 0.0);
  if (rep.contains("precopy")) {
    s.verdict = rep["precopy"].value("verdict", "");
    s.phases["precopy.first_stop"] = rep["precopy"].value("first_stop_ms", 0.0);
    s.phases["precopy.second_stop"] = rep["precopy"].value("second_stop_ms", 0.0);
  }
  for (const auto& p : rep.value("phases", nlohmann::json::array())) s.phases[p["name"]] += p["ms"].get<double>();
  for (const auto& t : rep.value("transfers", nlohmann::json::array())) {
    s.phases[t["direction"].get<std::string>() + ".cpu"] = t.value("cpu_ms", 0.0);  // the agent's CPU time
    for (const auto& p : t.value("agent_phases", nlohmann::json::array()))
      s.phases[t["direction"].get<std::string>() + "." + p["name"].get<std::string>()] = p["ms"].get<double>();
  }
  return s;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

template <class F>
double median_of(const std::vector<Sample>& samples, F field) {
  std::vector<double> v;
  for (const Sample& s : samples) v.push_back(field(s));
  return median(v);
}

struct SizeResult {
  long accounts = 0;
  long p_rss_kib = 0;
  std::string load_before, load_after;
  std::vector<Sample> ttst, forward_only, precopy;
};

std::string loadavg() {
  std::string l = slurp("/proc/loadavg");
  return l.substr(0, l.find(' ', l.find(' ', l.find(' ') + 1) + 1));  // the 1, 5 and 15 minute figures
}

SizeResult measure(long accounts, int runs, bool with_precopy, bool idle) {
  SizeResult r;
  r.accounts = accounts;
  r.load_before = loadavg();
  auto server = ttst::test::BankServer::start("tests/programs/bankserver/bankserver_v1", accounts,
                                              std::chrono::minutes(10));
  r.p_rss_kib = proc_kib(slurp("/proc/" + std::to_string(server.pid) + "/status"), "VmRSS:");
  std::vector<Mode> modes{Mode::kTtst, Mode::kForwardOnly};
  if (with_precopy) modes.push_back(Mode::kPrecopy);
  for (int i = 0; i < runs; ++i)
    for (size_t k = 0; k < modes.size(); ++k) {  // rotated: another mode first in each round
      const Mode mode = modes[(i + k) % modes.size()];
      Sample s = run_once(server.pid, server.port, mode, idle);
      std::fprintf(stderr, "  %ld accounts, %s run %d: %s%s%s, total %.0f ms, client stall %.0f ms, supervisor stall "
                   "%.0f ms, peak PSS %ld MiB\n", accounts, mode_name(mode), i + 1, s.reason.c_str(),
                   s.verdict.empty() ? "" : ", pre-copy ", s.verdict.c_str(), s.total, s.client_stall, s.stall,
                   s.peak_pss >> 10);
      (mode == Mode::kTtst ? r.ttst : mode == Mode::kForwardOnly ? r.forward_only : r.precopy).push_back(s);
    }
  server.kill_and_wait();
  r.load_after = loadavg();
  return r;
}

void print_table(const std::vector<SizeResult>& results, int runs) {
  std::printf("\nbankserver v1 -> v2, median of %d alternated runs each (ms; memory in MiB)\n\n", runs);
  std::printf("| accounts | P RSS | TTST total | stall (client) | stall (supervisor) | forward | backward | diff | "
              "forward-only total | FO stall (client) | TTST / FO | peak P+F+R PSS | / P | load before / after |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const SizeResult& r : results) {
    auto phase = [](const char* name) { return [name](const Sample& s) { return s.phases.count(name) ? s.phases.at(name) : 0.0; }; };
    const double ttst = median_of(r.ttst, [](const Sample& s) { return s.total; });
    const double fo = median_of(r.forward_only, [](const Sample& s) { return s.total; });
    const double pss = median_of(r.ttst, [](const Sample& s) { return double(s.peak_pss); });
    std::printf("| %ld | %ld | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %.0f | %.2f | %s / %s |\n",
                r.accounts, r.p_rss_kib >> 10, ttst, median_of(r.ttst, [](const Sample& s) { return s.client_stall; }),
                median_of(r.ttst, [](const Sample& s) { return s.stall; }), median_of(r.ttst, phase("forward")),
                median_of(r.ttst, phase("backward")), median_of(r.ttst, phase("diff")), fo,
                median_of(r.forward_only, [](const Sample& s) { return s.client_stall; }), fo > 0 ? ttst / fo : 0,
                pss / 1024, r.p_rss_kib ? pss / r.p_rss_kib : 0, r.load_before.c_str(), r.load_after.c_str());
  }
  bool any_precopy = false;
  for (const SizeResult& r : results) any_precopy |= !r.precopy.empty();
  if (any_precopy) {
    std::printf("\nWith --precopy (medians, ms): against the TTST runs above\n\n");
    std::printf("| accounts | total | stall (client) | stall (supervisor) | first stop | second stop | "
                "TTST stall (supervisor) | verdicts |\n|---|---|---|---|---|---|---|---|\n");
    for (const SizeResult& r : results) {
      std::map<std::string, int> verdicts;
      for (const Sample& s : r.precopy) ++verdicts[s.verdict.empty() ? s.reason : s.verdict];
      std::string v;
      for (const auto& [name, n] : verdicts) v += (v.empty() ? "" : ", ") + name + " " + std::to_string(n);
      auto phase = [](const char* name) { return [name](const Sample& s) { return s.phases.count(name) ? s.phases.at(name) : 0.0; }; };
      std::printf("| %ld | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s |\n", r.accounts,
                  median_of(r.precopy, [](const Sample& s) { return s.total; }),
                  median_of(r.precopy, [](const Sample& s) { return s.client_stall; }),
                  median_of(r.precopy, [](const Sample& s) { return s.stall; }), median_of(r.precopy, phase("precopy.first_stop")),
                  median_of(r.precopy, phase("precopy.second_stop")),
                  median_of(r.ttst, [](const Sample& s) { return s.stall; }), v.c_str());
    }
  }
  std::printf("\nPhases of the TTST runs (medians, ms): supervisor phases, then each agent's own (wall), then\n"
              "each agent's CPU time (less than its wall time when the machine is busy)\n\n");
  for (const SizeResult& r : results) {
    std::printf("%ld accounts:", r.accounts);
    std::map<std::string, std::vector<double>> by_name;
    for (const Sample& s : r.ttst)
      for (const auto& [name, ms] : s.phases) by_name[name].push_back(ms);
    for (const char* name : {"plan", "quiesce", "create", "startup", "forward", "backward", "diff", "rollback",
                             "forward.copy", "forward.index", "forward.type", "forward.map", "forward.write",
                             "backward.copy", "backward.index", "backward.type", "backward.map", "backward.write",
                             "forward.cpu", "backward.cpu"})
      if (by_name.count(name)) std::printf(" %s %.0f", name, median(by_name[name]));
    std::printf("\n");
  }
}

// The paper's Figure 5 analogue: update time against state size.
void draw(const std::vector<SizeResult>& results, const std::string& path) {
  ttst::chart::LineChart c;
  c.title = "bankserver update time against state size (median of runs)";
  c.x_label = "accounts (thousands)";
  c.y_label = "ms";
  ttst::chart::Series ttst{"TTST update", {}}, fo{"forward-only update", {}}, stall{"stall seen by a client (TTST)", {}};
  for (const SizeResult& r : results) {
    c.x.push_back(r.accounts / 1000.0);
    ttst.values.push_back(median_of(r.ttst, [](const Sample& s) { return s.total; }));
    fo.values.push_back(median_of(r.forward_only, [](const Sample& s) { return s.total; }));
    stall.values.push_back(median_of(r.ttst, [](const Sample& s) { return s.client_stall; }));
  }
  c.series = {ttst, fo, stall};
  std::string error;
  if (ttst::chart::write_png(ttst::chart::draw_line_chart(c), path, &error))
    std::printf("\nchart: %s\n", path.c_str());
  else
    std::fprintf(stderr, "update_bench: cannot write the chart: %s\n", error.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<long> sizes{10000, 100000, 1000000};
  int runs = 5;
  std::string png = "/tmp/update_bench.png";
  bool with_precopy = false, idle = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string opt = argv[i], value = argv[i + 1];
    if (opt == "--sizes") {
      sizes.clear();
      std::istringstream list(value);
      for (std::string n; std::getline(list, n, ',');) sizes.push_back(std::atol(n.c_str()));
    } else if (opt == "--runs") {
      runs = std::max(1, std::atoi(value.c_str()));
    } else if (opt == "--png") {
      png = value;
    } else if (opt == "--precopy") {
      with_precopy = value == "1";
    } else if (opt == "--idle") {
      idle = value == "1";
    } else {
      std::fprintf(stderr, "update_bench: unknown option %s (--sizes N,M --runs R --png FILE --precopy 0|1 --idle 0|1)\n", opt.c_str());
      return 2;
    }
  }
  if (idle) std::printf("P idle during the runs (--idle 1): no client stall measured\n");
  std::vector<SizeResult> results;
  std::printf("machine: %ld cores, %s", sysconf(_SC_NPROCESSORS_ONLN),
              slurp("/proc/sys/kernel/osrelease").c_str());
  for (long n : sizes) {
    std::fprintf(stderr, "bankserver with %ld accounts...\n", n);
    results.push_back(measure(n, runs, with_precopy, idle));
  }
  print_table(results, runs);
  draw(results, png);
}
