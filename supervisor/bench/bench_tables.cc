// bench_tables — see bench_tables.h.
#include "supervisor/bench/bench_tables.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "stfw/fi/png_chart.h"

namespace ttst::bench {
namespace {

template <class F>
double median_of(const std::vector<Sample>& samples, F field) {
  std::vector<double> v;
  for (const Sample& s : samples) v.push_back(field(s));
  return median(v);
}

double phase_of(const Sample& s, const std::string& name) { return s.phases.count(name) ? s.phases.at(name) : 0.0; }
auto phase(const char* name) {
  return [name](const Sample& s) { return phase_of(s, name); };
}
// The whole update: a committed one without its grace period (v2 already serving).
double update_ms(const Sample& s) { return s.total - phase_of(s, "grace"); }
double client_stall(const Sample& s) { return s.client_stall; }
double supervisor_stall(const Sample& s) { return s.stall; }

std::string verdicts(const std::vector<Sample>& samples) {
  std::map<std::string, int> count;
  for (const Sample& s : samples) ++count[s.verdict.empty() ? s.reason : s.verdict];
  std::string v;
  for (const auto& [name, n] : count) v += (v.empty() ? "" : ", ") + name + " " + std::to_string(n);
  return v;
}

void print_main_table(const std::vector<SizeResult>& results, const Options& o) {
  std::printf("\nbankserver v1 -> v2, median of %d alternated runs each (ms; memory in MiB)\n", o.runs);
  std::printf("client traffic: %s%s\n\n", o.idle ? "none (--idle 1)" : traffic_name(o.traffic),
              o.commit ? "; committed updates (--commit 1: P restarted for each run; totals without the grace period)"
                       : "");
  std::printf("| accounts | P RSS | TTST total | stall (client) | stall (supervisor) | forward | backward | diff | "
              "forward-only total | FO stall (client) | TTST / FO | peak P+F+R PSS | / P | load before / after |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const SizeResult& r : results) {
    const double ttst = median_of(r.ttst, update_ms), fo = median_of(r.forward_only, update_ms);
    const double pss = median_of(r.ttst, [](const Sample& s) { return double(s.peak_pss); });
    std::printf("| %ld | %ld | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %.0f | %.2f | %s / %s |\n",
                r.accounts, r.p_rss_kib >> 10, ttst, median_of(r.ttst, client_stall),
                median_of(r.ttst, supervisor_stall), median_of(r.ttst, phase("forward")),
                median_of(r.ttst, phase("backward")), median_of(r.ttst, phase("diff")), fo,
                median_of(r.forward_only, client_stall), fo > 0 ? ttst / fo : 0, pss / 1024,
                r.p_rss_kib ? pss / r.p_rss_kib : 0, r.load_before.c_str(), r.load_after.c_str());
  }
}

void print_precopy_tables(const std::vector<SizeResult>& results, const Options& o) {
  std::printf("\nWith --precopy (medians, ms): against the TTST runs above\n\n");
  std::printf("| accounts | total | stall (client) | stall (supervisor) | first stop | second stop | "
              "TTST stall (supervisor) | verdicts |\n|---|---|---|---|---|---|---|---|\n");
  for (const SizeResult& r : results)
    std::printf("| %ld | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s |\n", r.accounts, median_of(r.precopy, update_ms),
                median_of(r.precopy, client_stall), median_of(r.precopy, supervisor_stall),
                median_of(r.precopy, phase("precopy.first_stop")), median_of(r.precopy, phase("precopy.second_stop")),
                median_of(r.ttst, supervisor_stall), verdicts(r.precopy).c_str());
  if (o.idle) return;
  std::printf("\nPre-copy's cost to the serving P (%s traffic): latency of the requests sent and answered during\n"
              "the round (between P's two stops) against the same client's on P idle (no update, as long as the\n"
              "round, right after the run%s); medians over the runs, ms (goal: round p99 <= 2 x idle p99)\n\n",
              traffic_name(o.traffic), o.commit ? ": v2 serving" : "");
  std::printf("| accounts | round | requests in round | round p50 | round p99 | round max | idle p50 | idle p99 | "
              "p99 round / idle (median of the runs' ratios) |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const SizeResult& r : results) {
    const double rp99 = median_of(r.precopy, [](const Sample& s) { return s.round.p99; });
    const double ip99 = median_of(r.precopy, [](const Sample& s) { return s.idle_p.p99; });
    const double ratio = median_of(r.precopy, [](const Sample& s) { return s.idle_p.p99 > 0 ? s.round.p99 / s.idle_p.p99 : 0; });
    std::printf("| %ld | %.0f | %.0f | %.3f | %.3f | %.1f | %.3f | %.3f | %.2f |\n", r.accounts,
                median_of(r.precopy, [](const Sample& s) { return s.round_ms; }),
                median_of(r.precopy, [](const Sample& s) { return double(s.round.requests); }),
                median_of(r.precopy, [](const Sample& s) { return s.round.p50; }), rp99,
                median_of(r.precopy, [](const Sample& s) { return s.round.max; }),
                median_of(r.precopy, [](const Sample& s) { return s.idle_p.p50; }), ip99, ratio);
  }
}

// "PSS (private)" in MiB of each role at the peak.
std::string breakdown(const Sample& s) {
  std::string out;
  long huge = 0;
  for (const auto& [role, m] : s.peak_by_role) {
    if (m.rss == 0) continue;  // ending: its memory already torn down
    char cell[96];
    std::snprintf(cell, sizeof cell, "%s%s %ld (%ld)", out.empty() ? "" : ", ", role.c_str(), m.pss >> 10,
                  m.private_kib >> 10);
    out += cell;
    huge += m.anon_huge;
  }
  return out + (huge ? ", THP " + std::to_string(huge >> 10) : "");
}

const Sample* median_peak(const std::vector<Sample>& samples) {
  const double m = median_of(samples, [](const Sample& s) { return double(s.peak_pss); });
  const Sample* best = nullptr;
  for (const Sample& s : samples)
    if (!best || std::abs(s.peak_pss - m) < std::abs(best->peak_pss - m)) best = &s;
  return best;
}

void print_memory_table(const std::vector<SizeResult>& results) {
  std::printf("\nMemory at the sampled peak of the PSS sum, the run nearest the median peak: each process's PSS\n"
              "(in brackets its private pages: mapped by no other process), MiB; P S K = pre-copy's snapshot and key\n\n"
              "| accounts | mode | peak PSS sum | / P RSS | by process: PSS (private) |\n|---|---|---|---|---|\n");
  for (const SizeResult& r : results)
    for (const auto* v : {&r.ttst, &r.forward_only, &r.precopy}) {
      const Sample* s = median_peak(*v);
      if (!s) continue;
      std::printf("| %ld | %s | %ld | %.2f | %s |\n", r.accounts, mode_name(s->mode), s->peak_pss >> 10,
                  r.p_rss_kib ? double(s->peak_pss) / r.p_rss_kib : 0, breakdown(*s).c_str());
    }
}

const char* const kPhaseNames[] = {
    "plan", "quiesce", "snapshot", "create", "startup", "forward", "backward", "diff", "stop", "delta",
    "forward_delta", "backward_delta", "diff_delta", "commit",
    "grace", "rollback", "forward.copy", "forward.index", "forward.type", "forward.map", "forward.write",
    "backward.copy", "backward.index", "backward.type", "backward.map", "backward.write", "forward.cpu",
    "backward.cpu"};

void print_phase_medians(const std::vector<SizeResult>& results) {
  std::printf("\nPhases of the TTST runs (medians, ms): supervisor phases, then each agent's own (wall), then\n"
              "each agent's CPU time (less than its wall time when the machine is busy)\n\n");
  for (const SizeResult& r : results) {
    std::printf("%ld accounts:", r.accounts);
    std::map<std::string, std::vector<double>> by_name;
    for (const Sample& s : r.ttst)
      for (const auto& [name, ms] : s.phases) by_name[name].push_back(ms);
    for (const char* name : kPhaseNames)
      if (by_name.count(name)) std::printf(" %s %.0f", name, median(by_name[name]));
    std::printf("\n");
  }
}

void print_run(long accounts, const Sample& s) {
  std::printf("%ld %s run %d: %s%s%s; total %.0f, stall client %.0f / supervisor %.0f; load %s; %s before\n  phases:",
              accounts, mode_name(s.mode), s.run, s.reason.c_str(), s.verdict.empty() ? "" : ", pre-copy ",
              s.verdict.c_str(), s.total, s.client_stall, s.stall, s.load.c_str(), s.memory_before.c_str());
  for (const auto& [name, ms] : s.phase_list) std::printf(" %s %.0f", name.c_str(), ms);
  std::printf("\n  agents:");
  for (const auto& [name, ms] : s.phases)
    if (name.find('.') != std::string::npos) std::printf(" %s %.0f", name.c_str(), ms);
  std::printf("\n  peak PSS %ld MiB: %s\n  requests %ld (%ld bad replies)", s.peak_pss >> 10, breakdown(s).c_str(),
              s.requests, s.bad_replies);
  if (s.round_ms > 0)
    std::printf("; round %.0f ms: %zu requests, p50 %.3f p99 %.3f max %.1f; idle p50 %.3f p99 %.3f", s.round_ms,
                s.round.requests, s.round.p50, s.round.p99, s.round.max, s.idle_p.p50, s.idle_p.p99);
  const double tick_ms = 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::printf("\n  processes (at their last sample: CPU user / system ms, minor / major faults):");
  for (const auto& [role, st] : s.stat_by_role)
    std::printf(" %s %.0f / %.0f, %llu / %llu;", role.c_str(), st.utime * tick_ms, st.stime * tick_ms, st.minflt,
                st.majflt);
  std::printf("\n  machine during the run: %s\n", s.vmstat.c_str());
}

}  // namespace

void print_tables(const std::vector<SizeResult>& results, const Options& o) {
  print_main_table(results, o);
  bool any_precopy = false;
  for (const SizeResult& r : results) any_precopy |= !r.precopy.empty();
  if (any_precopy) print_precopy_tables(results, o);
  print_phase_medians(results);
  if (o.sample_ms > 0) print_memory_table(results);
  if (!o.verbose) return;
  std::printf("\nEach run (--verbose; ms, in the order run; agents: wall per phase, cpu)\n\n");
  for (const SizeResult& r : results)
    for (const auto* v : {&r.ttst, &r.forward_only, &r.precopy})
      for (const Sample& s : *v) print_run(r.accounts, s);
}

// The paper's Figure 5 analogue: update time against state size.
void draw_figure5(const std::vector<SizeResult>& results, const Options& o) {
  ttst::chart::LineChart c;
  c.title = std::string("bankserver update time against state size (median of runs") +
            (o.commit ? ", committed)" : ", validate-only)");
  c.x_label = "accounts (thousands)";
  c.y_label = "ms";
  ttst::chart::Series ttst{"TTST update", {}}, fo{"forward-only update", {}},
      stall{"stall seen by a client (TTST)", {}}, pre{"stall seen by a client (TTST --precopy)", {}};
  bool with_precopy = false;
  for (const SizeResult& r : results) {
    c.x.push_back(r.accounts / 1000.0);
    ttst.values.push_back(median_of(r.ttst, update_ms));
    fo.values.push_back(median_of(r.forward_only, update_ms));
    stall.values.push_back(median_of(r.ttst, o.idle ? supervisor_stall : client_stall));
    pre.values.push_back(median_of(r.precopy, o.idle ? supervisor_stall : client_stall));
    with_precopy |= !r.precopy.empty();
  }
  if (o.idle) stall.name = "stall (supervisor, P idle)", pre.name = "stall (supervisor, P idle, --precopy)";
  c.series = {ttst, fo, stall};
  if (with_precopy) c.series.push_back(pre);
  std::string error;
  if (ttst::chart::write_png(ttst::chart::draw_line_chart(c), o.png, &error))
    std::printf("\nchart: %s\n", o.png.c_str());
  else
    std::fprintf(stderr, "update_bench: cannot write the chart: %s\n", error.c_str());
}

}  // namespace ttst::bench
