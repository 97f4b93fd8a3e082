// bench_stats — see bench_stats.h.
#include "supervisor/bench/bench_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <tuple>

namespace ttst::bench {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(v.size()));
  return v[static_cast<size_t>(std::max(rank, 1.0)) - 1];
}

double largest_gap_ms(const std::vector<Request>& requests, double start_ms) {
  double gap = 0, last = start_ms;
  for (const Request& r : requests) {
    gap = std::max(gap, r.replied_ms - last);
    last = r.replied_ms;
  }
  return gap;
}

std::vector<double> latencies_within(const std::vector<Request>& requests, double from_ms, double to_ms) {
  std::vector<double> out;
  for (const Request& r : requests)
    if (r.sent_ms >= from_ms && r.replied_ms <= to_ms) out.push_back(r.replied_ms - r.sent_ms);
  return out;
}

LatencySummary summarize(const std::vector<double>& latencies_ms) {
  LatencySummary s;
  s.requests = latencies_ms.size();
  s.p50 = percentile(latencies_ms, 50);
  s.p99 = percentile(latencies_ms, 99);
  s.max = latencies_ms.empty() ? 0 : *std::max_element(latencies_ms.begin(), latencies_ms.end());
  return s;
}

std::optional<std::pair<std::string, double>> parse_progress(const std::string& line) {
  char name[64];
  double ms = 0;
  char unit[4] = {0};
  int used = 0;
  if (std::sscanf(line.c_str(), " %63[a-z_] %lf %3s%n", name, &ms, unit, &used) != 3 || std::string(unit) != "ms" ||
      line.find_first_not_of(" \n", static_cast<size_t>(used)) != std::string::npos)
    return std::nullopt;
  return std::make_pair(std::string(name), ms);
}

std::optional<std::pair<double, double>> precopy_round(const std::vector<PhaseEnd>& ends) {
  std::optional<double> from;
  for (size_t i = 0; i < ends.size(); ++i) {
    if (ends[i].name == "snapshot") from = ends[i].at_ms;
    if (ends[i].name == "stop" && from && i > 0 && ends[i - 1].at_ms >= *from)
      return std::make_pair(*from, ends[i - 1].at_ms);
  }
  return std::nullopt;
}

long proc_kib(const std::string& text, const std::string& key) {
  size_t at = text.rfind(key, 0) == 0 ? 0 : text.find("\n" + key);
  if (at == std::string::npos) return 0;
  const size_t colon = text.find(':', at);
  return colon == std::string::npos ? 0 : std::atol(text.c_str() + colon + 1);
}

ProcStat parse_stat(const std::string& text) {
  ProcStat st;
  const size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 > text.size()) return st;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    const unsigned long long v = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 10) st.minflt = v;
    if (i == 12) st.majflt = v;
    if (i == 14) st.utime = v;
    if (i == 15) st.stime = v;
    if (i == 22) st.start_time = v;
  }
  return st;
}

std::map<pid_t, std::string> process_roles(pid_t p, const std::map<pid_t, SeenProcess>& seen, bool precopy) {
  using Key = std::tuple<long, unsigned long long, pid_t>;  // order of appearance
  std::vector<Key> futures, clones;
  std::map<pid_t, std::string> roles{{p, "P"}};
  for (const auto& [pid, s] : seen) {
    if (pid == p) continue;
    const Key key{s.first_sample, s.start_time, pid};
    if (s.ran_v2)
      futures.push_back(key);
    else if (s.samples >= 2)
      clones.push_back(key);
    else
      roles[pid] = "v1 clone";
  }
  std::sort(futures.begin(), futures.end());
  std::sort(clones.begin(), clones.end());
  auto numbered = [](const char* base, size_t n) { return n == 0 ? std::string(base) : base + std::to_string(n + 1); };
  for (size_t i = 0; i < futures.size(); ++i) roles[std::get<2>(futures[i])] = numbered("F", i);
  for (size_t i = 0; i < clones.size(); ++i) {
    const pid_t pid = std::get<2>(clones[i]);
    if (precopy && i < 2)
      roles[pid] = i == 0 ? "S" : "K";
    else
      roles[pid] = numbered("R", precopy ? i - 2 : i);
  }
  return roles;
}

}  // namespace ttst::bench
