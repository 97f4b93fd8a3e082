// figure.cc — print_figure (figure.h).
#include "stfw/fi/figure.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "stfw/fi/mutants.h"
#include "stfw/fi/png_chart.h"

namespace ttst::fi {
namespace {

using nlohmann::json;

const std::vector<std::string> kClasses = {"crash",  "hang",   "invariant",  "state_diff",  "refused",
                                           "other",  "benign", "UNDETECTED", "ttst_failure"};

struct Counts {
  std::map<std::string, std::map<std::string, int>> by_fault;  // fault -> class -> n
  std::map<std::string, int> total;
  int n = 0;
  void add(const std::string &fault, const std::string &cls) {
    by_fault[fault][cls]++, by_fault[fault]["n"]++, total[cls]++, n++;
  }
};

void print_table(const char *title, const Counts &c) {
  std::printf("\n%s\n%-12s %5s", title, "fault type", "n");
  for (const std::string &k : kClasses) std::printf(" %*s", static_cast<int>(std::max<size_t>(k.size(), 5)), k.c_str());
  std::printf("\n");
  auto row = [&](const std::string &name, const std::map<std::string, int> &m, int n) {
    std::printf("%-12s %5d", name.c_str(), n);
    for (const std::string &k : kClasses) {
      auto it = m.find(k);
      std::printf(" %*d", static_cast<int>(std::max<size_t>(k.size(), 5)), it == m.end() ? 0 : it->second);
    }
    std::printf("\n");
  };
  for (const std::string &f : fault_types()) {
    auto it = c.by_fault.find(f);
    if (it != c.by_fault.end()) row(f, it->second, it->second.at("n"));
  }
  row("total", c.total, c.n);
}

double pct(int a, int b) { return b ? 100.0 * a / b : 0; }

void draw(const std::string &dir, const Counts &ttst, const Counts &fwd) {
  using namespace ttst::chart;
  BarChart f6{"TTST outcomes by fault type (% of activated mutants)", "% of mutants", {}, {}};
  for (const std::string &k : kClasses) f6.series.push_back({k, {}});
  for (const std::string &f : fault_types()) {
    auto it = ttst.by_fault.find(f);
    if (it == ttst.by_fault.end()) continue;
    f6.categories.push_back(f + " (" + std::to_string(it->second.at("n")) + ")");
    for (size_t i = 0; i < kClasses.size(); ++i) {
      auto v = it->second.find(kClasses[i]);
      f6.series[i].values.push_back(v == it->second.end() ? 0 : std::round(pct(v->second, it->second.at("n"))));
    }
  }
  BarChart cmp{"TTST vs forward-only state transfer (" + std::to_string(ttst.n) + " activated mutants)", "mutants",
               kClasses, {{"TTST", {}}, {"forward only", {}}}};
  for (const std::string &k : kClasses) {
    cmp.series[0].values.push_back(ttst.total.count(k) ? ttst.total.at(k) : 0);
    cmp.series[1].values.push_back(fwd.total.count(k) ? fwd.total.at(k) : 0);
  }
  std::string err;
  if (!write_png(draw_bar_chart(f6, 1200, 560), dir + "/figure6.png", &err) ||
      !write_png(draw_bar_chart(cmp, 1100, 520), dir + "/ttst_vs_forward_only.png", &err))
    std::fprintf(stderr, "ttst-fi: %s\n", err.c_str());
  else
    std::printf("\ncharts: %s/figure6.png %s/ttst_vs_forward_only.png\n", dir.c_str(), dir.c_str());
}

}  // namespace

int print_figure(const std::string &dir) {
  std::ifstream f(dir + "/results.jsonl");
  if (!f) {
    std::fprintf(stderr, "ttst-fi: no %s/results.jsonl; run `ttst-fi run --out %s ...` first\n", dir.c_str(),
                 dir.c_str());
    return 2;
  }
  std::map<std::string, json> mutants;  // the last line of each id wins
  for (std::string line; std::getline(f, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("kind", "") == "mutant") mutants[j.value("id", "")] = j;
  }
  Counts ttst, fwd;
  int inactive = 0, unprobed = 0, unbuilt = 0, beyond = 0, fwd_bad = 0, alarms = 0, forward = 0, alarms_backward = 0;
  for (const auto &[id, j] : mutants) {
    if (j.value("build", "") == "failed") ++unbuilt;
    if (!j.value("activated", false) || !j.contains("ttst")) {
      unprobed += j.value("unprobed", false);
      inactive += j.value("build", "") != "failed" && !j.value("unprobed", false);
      continue;
    }
    std::string t = j["ttst"].value("class", ""), w = j["forward_only"].value("class", "");
    ttst.add(j.value("fault", ""), t);
    fwd.add(j.value("fault", ""), w);
    bool t_rolled = t != "benign" && t != "UNDETECTED" && t != "ttst_failure";
    fwd_bad += w == "UNDETECTED";
    beyond += w == "UNDETECTED" && t_rolled;
    alarms += w == "benign" && t_rolled;
    bool fwd_active = j.value("forward_activated", true);
    forward += fwd_active;
    alarms_backward += w == "benign" && t_rolled && !fwd_active;
  }
  std::printf("ttst-fi: %zu mutants tried: %d activated, %d not activated (their fault never executed), "
              "%d did not build, %d whose probe failed otherwise (activation unknown)\n",
              mutants.size(), ttst.n, inactive, unbuilt, unprobed);
  std::printf("of the activated: %d execute in the forward direction (what plain state transfer runs), %d only "
              "in the backward direction\n", forward, ttst.n - forward);
  print_table("With TTST (forward transfer, backward transfer, state diff):", ttst);
  print_table("Forward-only baseline (--forward-only: plain state transfer):", fwd);
  int und = ttst.total.count("UNDETECTED") ? ttst.total.at("UNDETECTED") : 0;
  int fail = ttst.total.count("ttst_failure") ? ttst.total.at("ttst_failure") : 0;
  std::printf("\nundetected corruption with TTST: %d of %d activated (%.1f%%; goal <= 1%%)\n", und, ttst.n,
              pct(und, ttst.n));
  std::printf("undetected corruption with forward-only: %d of %d (%.1f%%)\n", fwd_bad, fwd.n, pct(fwd_bad, fwd.n));
  std::printf("detected by TTST beyond the baseline: %d of %d activated (%.1f%%): corrupt commits of "
              "forward-only that TTST rolled back (%.1f%% of them)\n",
              beyond, ttst.n, pct(beyond, ttst.n), pct(beyond, fwd_bad));
  std::printf("rolled back by TTST where forward-only committed correctly: %d (%d faults only in backward code, "
              "%d forward faults the oracle does not see)\n", alarms, alarms_backward, alarms - alarms_backward);
  std::printf("ttst failures (P harmed, internal error, stray process): %d\n", fail);
  draw(dir, ttst, fwd);
  return 0;
}

}  // namespace ttst::fi
