// fi_smoke_test — a 20-mutant ttst-fi campaign on kvserver v2 -> v3 with its
// transfer plugin, through the shipped ttst-fi and ttst-supervise:
//   - chosen mutants first: a lossy backward function (`d->vlen = n;` not made) is
//     rolled back with state_diff while the forward-only baseline commits it
//     correctly; a forward function that forgets the blob's length (`b->len = n;`)
//     commits corrupt state with --forward-only and is rolled back by TTST; a
//     no-op rewrite (control) is benign both ways; a start-up site v2 never runs
//     during an update (table_init) is not activated and not run;
//   - then a random fill up to 20 activated mutants in the same directory: the
//     campaign resumes (no mutant twice), each activated one has both outcomes;
//   - `ttst-fi table` prints both tables and draws the PNG charts.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "tests/util/test_util.h"

namespace {

using nlohmann::json;
using ttst::testutil::run;
using ttst::testutil::tmpdir;

const std::string kKv = "tests/programs/kvserver/";

std::string campaign(const std::string &out, const std::string &extra) {
  std::string cc = "TTST_REAL_CC=gcc stfw/runtime/ttst/bin/ttst-cc";
  return "stfw/fi/ttst-fi run --old " + kKv + "kvserver_v2 --new " + kKv + "kvserver_v3 --xfer " + kKv +
         "kvserver_v3_xfer --xfer-source " + kKv + "kvserver_v3_xfer.c --build-xfer '" + cc +
         " --xfer-plugin -I" + kKv + " -o {out} {src}' --new-source " + kKv +
         "kvserver.c --startup-functions main,table_init --build-new '" + cc +
         " -O2 -DKV_VERSION=3 -o {out} {src}' --start '{old} {port}' --workload 'python3 "
         "stfw/fi/kvserver_client.py load {port} 120' --oracle 'python3 stfw/fi/kvserver_client.py dump {port}' "
         "--supervise supervisor/ttst-supervise --jobs 2 --out " + out + " " + extra + " 2>>" + out + ".log";
}

std::vector<json> lines(const std::string &path, const std::string &kind) {
  std::vector<json> out;
  std::ifstream f(path);
  for (std::string l; std::getline(f, l);) {
    json j = json::parse(l, nullptr, false);
    if (j.is_object() && j.value("kind", "") == kind) out.push_back(j);
  }
  return out;
}

const json *find(const std::vector<json> &ms, const std::string &needle) {
  for (const json &m : ms)
    if (m.value("description", "").find(needle) != std::string::npos) return &m;
  return nullptr;
}

}  // namespace

TEST_CASE("a 20-mutant campaign classifies lossy, corrupting, no-op and unexecuted faults") {
  const std::string out = tmpdir() + "/fi";
  auto chosen = run(campaign(out, "--operators field_skip,control --select "
                                  "'bwd_struct_entry.field_skip.*vlen = n|fwd_struct_entry.field_skip.*b->len = "
                                  "n|fwd_struct_entry.control.*b->len = n|table_init.field_skip.*calloc'"));
  INFO(ttst::testutil::slurp(out + ".log"));
  REQUIRE(chosen.status == 0);
  std::vector<json> ms = lines(out + "/results.jsonl", "mutant");
  for (const json &g : lines(out + "/results.jsonl", "golden")) CHECK(g["result"]["class"] == "benign");

  const json *lossy = find(ms, "`d->vlen = n;` -> `;`");
  REQUIRE(lossy);
  REQUIRE((*lossy)["activated"] == true);  // else no ttst outcome to read
  CHECK((*lossy)["ttst"]["class"] == "state_diff");
  CHECK((*lossy)["forward_only"]["class"] == "benign");

  const json *corrupting = find(ms, "`b->len = n;` -> `;`");
  REQUIRE(corrupting);
  CHECK((*corrupting)["ttst"]["class"] == "state_diff");
  CHECK((*corrupting)["forward_only"]["class"] == "UNDETECTED");

  const json *noop = find(ms, "`b->len = n;` -> `{ b->len = n; }`");
  REQUIRE(noop);
  REQUIRE((*noop)["activated"] == true);
  CHECK((*noop)["ttst"]["class"] == "benign");
  CHECK((*noop)["forward_only"]["class"] == "benign");

  const json *unexecuted = find(ms, "calloc(nbuckets");
  REQUIRE(unexecuted);
  CHECK((*unexecuted)["activated"] == false);
  CHECK_FALSE(unexecuted->contains("ttst"));

  auto fill = run(campaign(out, "--max-mutants 20 --variants 2 --seed 3"));
  REQUIRE(fill.status == 0);
  ms = lines(out + "/results.jsonl", "mutant");
  std::set<std::string> ids;
  int activated = 0;
  const std::set<std::string> classes = {"crash",  "hang",   "invariant",  "state_diff",  "refused",
                                         "other",  "benign", "UNDETECTED", "ttst_failure"};
  for (const json &m : ms) {
    CHECK(ids.insert(m["id"].get<std::string>()).second);  // resumed: nothing ran twice
    if (!m.value("activated", false)) continue;
    ++activated;
    CHECK_MESSAGE(classes.count(m["ttst"]["class"].get<std::string>()), m.dump());
    CHECK_MESSAGE(classes.count(m["forward_only"]["class"].get<std::string>()), m.dump());
  }
  CHECK(activated >= 20);
  CHECK(activated <= 21);  // two workers: at most one beyond the target

  auto table = run("stfw/fi/ttst-fi table " + out);
  CHECK(table.status == 0);
  CHECK(table.out.find("Forward-only baseline") != std::string::npos);
  CHECK(table.out.find("undetected corruption with TTST") != std::string::npos);
  std::string png = ttst::testutil::slurp(out + "/figure6.png");
  CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
}
