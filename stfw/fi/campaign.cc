// campaign.cc — run_campaign (campaign.h): the golden runs, then the mutants in a
// seeded random order on `jobs` workers until `max_mutants` activated ones ran.
// Per mutant: its site's activation probe (cached per site), the mutant's build,
// an attempt with TTST and one with --forward-only. Every result is a line of
// results.jsonl, appended as it is known; a restart skips what is there.
#include "stfw/fi/campaign.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "stfw/fi/process.h"

namespace ttst::fi {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string slurp(const std::string &path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// results.jsonl: what is known, and appending to it.
class Results {
 public:
  explicit Results(const std::string &path) : path_(path) {
    std::ifstream f(path);
    for (std::string line; std::getline(f, line);) {
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;  // a torn last line
      std::string kind = j.value("kind", "");
      if (kind == "site") sites_[j.value("site", "")] = j;
      if (kind == "mutant" || kind == "golden") done_[j.value("id", "")] = j;
    }
  }
  bool done(const std::string &id, json *j = nullptr) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = done_.find(id);
    if (it != done_.end() && j) *j = it->second;
    return it != done_.end();
  }
  bool site(const std::string &id, json *j) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = sites_.find(id);
    if (it != sites_.end()) *j = it->second;
    return it != sites_.end();
  }
  void append(const json &j) {
    std::lock_guard<std::mutex> l(mu_);
    if (j.value("kind", "") == "site") sites_[j.value("site", "")] = j;
    else done_[j.value("id", "")] = j;
    std::ofstream f(path_, std::ios::app);
    f << j.dump() << "\n";
  }
  int activated_done() {
    std::lock_guard<std::mutex> l(mu_);
    int n = 0;
    for (const auto &[id, j] : done_) n += j.value("kind", "") == "mutant" && j.value("activated", false);
    return n;
  }

 private:
  std::string path_;
  std::mutex mu_;
  std::map<std::string, json> sites_;
  std::map<std::string, json> done_;
};

json outcome_json(const Outcome &o) {
  return {{"class", o.cls}, {"reason", o.reason}, {"detail", o.detail}, {"exit", o.exit}};
}

struct Worker {
  const Config &c;
  Results &results;
  std::string xfer_src, new_src;

  // Builds `source` with the target's template into `out`; false when it does not compile.
  bool build(const Mutant &m, const std::string &source, const std::string &dir, const std::string &out) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    std::string src = dir + "/" + fs::path(m.target == "xfer" ? c.xfer_source : c.new_source).filename().string();
    std::ofstream(src) << source;
    const std::string &templ = m.target == "xfer" ? c.build_xfer : c.build_new;
    Ran r = run_shell(expand(templ, {{"src", quote(src)}, {"out", quote(out)}}), std::chrono::minutes(3),
                      dir + "/build.log");
    return r.status == 0 && fs::exists(out);
  }

  // The executables of one attempt with `source` for the mutant's target. An attempt
  // whose setup failed (v1 did not start or load, the oracle failed on v1: a busy
  // machine, never the mutant, which has not run yet) is run again, up to three
  // times in all.
  Outcome attempt(const Mutant &m, const std::string &source, Mode mode, const std::string &dir, int slot) {
    std::string out = dir + "/built";
    if (!build(m, source, dir, out)) {
      Outcome o;
      o.cls = "build_failed";
      return o;
    }
    bool x = m.target == "xfer";
    Outcome o;
    for (int tries = 0; tries < 3 && (tries == 0 || o.cls == "setup_failed"); ++tries)
      o = run_update(c, mode, x ? c.new_exe : out, x ? out : c.xfer, dir, slot);
    return o;
  }

  // The site's activation: a trap there, under TTST and under --forward-only. A probe
  // whose update failed otherwise (neither the trap nor validated: a time limit on a
  // busy machine, a workload that could not connect) says nothing about the site:
  // tried again, up to three times in all, before it is recorded as unprobed.
  json probe(const Mutant &m, const std::string &orig, const std::string &dir, int slot) {
    std::string src = apply(orig, m.probe);
    Outcome p;
    bool active = false, ran_through = false;
    for (int tries = 0; tries < 3 && !active && !ran_through; ++tries) {
      p = attempt(m, src, Mode::kProbe, dir + "/probe", slot);
      active = p.cls == "crash" && p.crash_signal == "SIGILL";
      ran_through = p.reason == "validate_only";  // validated without reaching the trap
      if (p.cls == "build_failed") break;  // building again changes nothing
    }
    Outcome f = attempt(m, src, Mode::kProbeForward, dir + "/probe_forward", slot);
    json s = {{"kind", "site"},
              {"site", m.site},
              {"activated", active},
              {"forward_activated", f.cls == "crash" && f.crash_signal == "SIGILL"},
              {"probe", outcome_json(p)}};
    if (!active && !ran_through) s["unprobed"] = true;  // it failed otherwise: activation unknown
    results.append(s);
    return s;
  }

  void one(const Mutant &m, int slot) {
    const std::string &orig = m.target == "xfer" ? xfer_src : new_src;
    std::string dir = c.out + "/work/" + m.id;
    json rec = {{"kind", "mutant"},   {"id", m.id},       {"target", m.target},
                {"fault", m.fault},   {"function", m.function}, {"line", m.line},
                {"description", m.description}, {"site", m.site}};
    json site;
    if (!results.site(m.site, &site)) site = probe(m, orig, dir, slot);
    int active = site.value("activated", false);
    rec["forward_activated"] = site.value("forward_activated", false);
    if (site.value("unprobed", false)) rec["unprobed"] = true;
    rec["activated"] = active == 1;
    if (active == 1) {
      std::string src = apply(orig, m.edit);
      Outcome t = attempt(m, src, Mode::kTtst, dir + "/ttst", slot);
      rec["build"] = t.cls == "build_failed" ? "failed" : "ok";
      if (t.cls != "build_failed") {
        rec["ttst"] = outcome_json(t);
        rec["forward_only"] = outcome_json(attempt(m, src, Mode::kForwardOnly, dir + "/forward", slot));
      }
      rec["activated"] = t.cls != "build_failed";  // a mutant that does not build ran nothing
    }
    results.append(rec);
    std::string cls = rec.contains("ttst") ? rec["ttst"].value("class", "") : "-";
    spdlog::info("{} {}: {}{}", m.id, m.description, rec["activated"].get<bool>() ? "" : "not activated ", cls);
    bool keep = c.keep || cls == "UNDETECTED" || cls == "ttst_failure" ||
                (rec.contains("forward_only") && rec["forward_only"].value("class", "") == "ttst_failure");
    std::error_code ec;
    if (!keep) fs::remove_all(dir, ec);
  }
};

bool golden(const Config &c, Results &results) {
  const char *modes[] = {"golden.ttst", "golden.forward_only"};
  for (int i = 0; i < 2; ++i) {
    json j;
    if (!results.done(modes[i], &j)) {
      Outcome o = run_update(c, i == 0 ? Mode::kTtst : Mode::kForwardOnly, c.new_exe, c.xfer,
                             c.out + "/work/" + modes[i], 0);
      j = {{"kind", "golden"}, {"id", modes[i]}, {"result", outcome_json(o)}};
      results.append(j);
    }
    if (j["result"].value("class", "") != "benign") {
      spdlog::error("ttst-fi: the unmutated update ({}) is not committed and equal by the oracle: {} {} — {}; "
                    "fix the setup (see {}/work/{}), then run again", modes[i], j["result"].value("class", ""),
                    j["result"].value("reason", ""), j["result"].value("detail", ""), c.out, modes[i]);
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<Mutant> campaign_mutants(const Config &c, std::string *error) {
  std::vector<Mutant> all;
  std::set<std::string> calls = {"ttst_xfer_member", "ttst_xfer_member_from", "ttst_xfer_whole", "ttst_xfer_keep"};
  auto add = [&](const std::string &target, const std::string &path, const std::set<std::string> &fns) {
    if (path.empty()) return true;
    std::string src = slurp(path);
    if (src.empty()) {
      *error = "cannot read " + path;
      return false;
    }
    MutationInput in{target, src, fns, calls, c.variants, c.seed};
    for (Mutant &m : generate_mutants(in)) all.push_back(std::move(m));
    return true;
  };
  if (!add("xfer", c.xfer_source, c.xfer_functions) || !add("new", c.new_source, c.startup_functions)) return {};
  std::regex sel(c.select.empty() ? ".*" : c.select);
  std::vector<Mutant> out;
  for (Mutant &m : all) {
    bool op = c.operators.empty() ? m.fault != "control" : c.operators.count(m.fault) > 0;
    if (op && std::regex_search(m.id + " " + m.description, sel)) out.push_back(std::move(m));
  }
  std::mt19937_64 rng(c.seed);
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

int run_campaign(const Config &c, bool list_only) {
  std::string error;
  std::vector<Mutant> mutants = campaign_mutants(c, &error);
  if (!error.empty()) {
    spdlog::error("ttst-fi: {}; check the path", error);
    return 2;
  }
  if (list_only) {
    for (const Mutant &m : mutants)
      std::printf("%s\t%s:%d\t%s\n", m.id.c_str(), m.target.c_str(), m.line, m.description.c_str());
    return 0;
  }
  std::error_code ec;
  fs::create_directories(c.out + "/work", ec);
  Results results(c.out + "/results.jsonl");
  if (!golden(c, results)) return 4;
  Worker w{c, results, slurp(c.xfer_source), slurp(c.new_source)};
  std::atomic<size_t> next{0};
  std::atomic<int> running_active{results.activated_done()};
  auto loop = [&](int slot) {
    for (size_t i; (i = next++) < mutants.size();) {
      if (results.done(mutants[i].id)) continue;
      if (running_active.load() >= c.max_mutants) return;
      w.one(mutants[i], slot);
      json j;
      if (results.done(mutants[i].id, &j) && j.value("activated", false)) ++running_active;
    }
  };
  std::vector<std::thread> threads;
  for (int s = 1; s <= std::max(c.jobs, 1); ++s) threads.emplace_back(loop, s);
  for (std::thread &t : threads) t.join();
  spdlog::info("ttst-fi: {} activated mutants in {}/results.jsonl", results.activated_done(), c.out);
  return 0;
}

}  // namespace ttst::fi
