// supervise_run — see supervise_run.h.
#include "supervisor/bench/supervise_run.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "supervisor/bench/traffic_client.h"

namespace ttst::bench {
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

SuperviseRun run_supervisor(const std::string& command) {
  SuperviseRun run;
  run.started_ms = now_ms();
  FILE* f = popen((command + " 2>&1 >/dev/null").c_str(), "r");  // stderr into the pipe, stdout away
  if (!f) return run;
  char line[4096];
  std::string all;
  while (std::fgets(line, sizeof line, f)) {
    const double at = now_ms();
    if (auto p = parse_progress(line)) {
      run.ends.push_back({p->first, at, p->second});
      continue;
    }
    all += line;
    if (std::string(line).rfind("ttst-supervise: ", 0) == 0) run.last_line = line;
  }
  pclose(f);
  while (!run.last_line.empty() && run.last_line.back() == '\n') run.last_line.pop_back();
  const size_t at = run.last_line.rfind(" Report: ");
  if (at != std::string::npos) {
    const std::string text = slurp(run.last_line.substr(at + 9));
    run.report = nlohmann::json::parse(text.empty() ? "{}" : text, nullptr, /*allow_exceptions=*/false);
    if (run.report.is_discarded()) run.report = nlohmann::json::object();
  }
  if (run.last_line.empty()) run.last_line = all.substr(0, 400);
  return run;
}

std::map<std::string, long long> vmstat_now() {
  std::map<std::string, long long> out;
  std::istringstream in(slurp("/proc/vmstat"));
  std::string key;
  long long value = 0;
  while (in >> key >> value) out[key] = value;
  return out;
}

std::string vmstat_delta(const std::map<std::string, long long>& before, const std::map<std::string, long long>& after) {
  std::string out;
  long long allocstall = 0;
  for (const auto& [key, value] : after) {
    const auto b = before.find(key);
    const long long d = value - (b == before.end() ? 0 : b->second);
    if (key.rfind("allocstall", 0) == 0) allocstall += d;
  }
  auto delta = [&](const std::string& key) {
    const auto a = after.find(key), b = before.find(key);
    return (a == after.end() ? 0 : a->second) - (b == before.end() ? 0 : b->second);
  };
  for (const char* key : {"pgfault", "pgmajfault", "compact_stall", "compact_fail", "thp_fault_alloc",
                          "thp_fault_fallback", "thp_split_pmd", "pgscan_direct", "pswpout"})
    out += std::string(out.empty() ? "" : ", ") + key + " " + std::to_string(delta(key));
  return out + ", allocstall " + std::to_string(allocstall);
}

std::string meminfo_now() {
  const std::string m = slurp("/proc/meminfo");
  return "free " + std::to_string(proc_kib(m, "MemFree:") >> 10) + " MiB, cached " +
         std::to_string(proc_kib(m, "Cached:") >> 10) + " MiB";
}

std::string loadavg() {
  std::string l = slurp("/proc/loadavg");
  return l.substr(0, l.find(' ', l.find(' ', l.find(' ') + 1) + 1));  // the 1, 5 and 15 minute figures
}

}  // namespace ttst::bench
