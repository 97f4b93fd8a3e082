// report — see report.h.
#include "supervisor/report.h"


#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "inject/sys/atomic_file.h"
#include "inject/sys/hex.h"
#include "inject/sys/signals.h"

namespace ttst::supervisor {
namespace {

constexpr int kReportFormat = 1;

constexpr std::pair<Outcome, const char*> kOutcomes[] = {
    {Outcome::kCommitted, "committed"},
    {Outcome::kRolledBack, "rolled_back"},
    {Outcome::kRefused, "refused"},
    {Outcome::kRolledBackAfterCommit, "rolled_back_after_commit"},
};

constexpr std::pair<Reason, const char*> kReasons[] = {
    {Reason::kNone, "none"},
    {Reason::kCrash, "crash"},
    {Reason::kTimeout, "timeout"},
    {Reason::kInvariant, "invariant"},
    {Reason::kStateDiff, "state_diff"},
    {Reason::kStartupCrash, "startup_crash"},
    {Reason::kNoUpdatePoint, "no_update_point"},
    {Reason::kNotQuiescent, "not_quiescent"},
    {Reason::kNeedsUserCode, "needs_user_code"},
    {Reason::kBadInput, "bad_input"},
    {Reason::kValidateOnly, "validate_only"},
    {Reason::kResourceLimit, "resource_limit"},
    {Reason::kStartupSideEffect, "startup_side_effect"},
    {Reason::kInternal, "internal"},
    {Reason::kHang, "hang"},
    {Reason::kChildProcess, "child_process"},
};

const nlohmann::json& require(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) throw std::runtime_error(std::string("report has no \"") + key + "\" key");
  return j.at(key);
}

std::string get_string(const nlohmann::json& j, const char* key) {
  const auto& v = require(j, key);
  if (!v.is_string()) throw std::runtime_error(std::string("report key \"") + key + "\" is not a string");
  return v.get<std::string>();
}

// Program output for the JSON (which must be UTF-8): printable ASCII, newlines and
// tabs kept, every other byte shown as '?'.
std::string printable(const std::string& bytes) {
  std::string out = bytes;
  for (char& c : out)
    if (!(c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f))) c = '?';
  return out;
}

nlohmann::json grace_to_json(const Grace& g) {
  nlohmann::json j = {{"ms", g.ms},
                      {"verdict", g.verdict},
                      {"health", g.health},
                      {"accepted", g.accepted},
                      {"replied_on_accepted", g.replied_on_accepted},
                      {"restored", g.restored},
                      {"connections", nlohmann::json::array()}};
  for (const auto& c : g.connections)
    j["connections"].push_back(
        {{"fd", c.fd}, {"peer", c.peer}, {"read", c.read}, {"replied", c.replied}, {"closed", c.closed}});
  return j;
}

Grace grace_from_json(const nlohmann::json& j) {
  Grace g;
  g.ms = j.value("ms", 0.0);
  g.verdict = j.value("verdict", "");
  g.health = j.value("health", "");
  g.accepted = j.value("accepted", uint64_t{0});
  g.replied_on_accepted = j.value("replied_on_accepted", uint64_t{0});
  g.restored = j.value("restored", std::vector<std::string>{});
  for (const auto& c : j.value("connections", nlohmann::json::array()))
    g.connections.push_back({c.value("fd", -1), c.value("peer", ""), c.value("read", false), c.value("replied", false),
                             c.value("closed", "")});
  return g;
}

nlohmann::json phases_to_json(const std::vector<Phase>& phases) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& p : phases) a.push_back({{"name", p.name}, {"ms", p.ms}});
  return a;
}

std::vector<Phase> phases_from_json(const nlohmann::json& a) {
  std::vector<Phase> phases;
  for (const auto& p : a) phases.push_back({p.value("name", ""), p.value("ms", 0.0)});
  return phases;
}

// Where the time went: the stall clients felt, each transfer's agent phases, the limit.
void render_timing(std::ostringstream& s, const Report& r) {
  char line[160];
  if (r.stall_ms > 0) {
    snprintf(line, sizeof line, "  stall:      the program was stopped %.1f ms (what its clients waited)\n", r.stall_ms);
    s << line;
  }
  for (const auto& st : r.stops) {
    const char* how = st.how == "found_quiescent"   ? "found at its wait or update point"
                      : st.how == "seized_again"    ? "found serving a request, seized again at its wait"
                      : st.how == "driven_to_wait"  ? "found serving a request, run to its wait"
                      : st.how == "driven_to_update_point" ? "found serving a request, run to its update point"
                                                    : st.how.c_str();
    snprintf(line, sizeof line, "  stopped:    %s (%d seizure%s)\n", how, st.seizures, st.seizures == 1 ? "" : "s");
    s << line;
  }
  if (const auto& w = r.lock_wait) {
    s << "  locks:      at the first stop " << w->first_held << "; the program ran on and was stopped again "
      << w->stops << " time(s) over " << static_cast<long>(w->waited_ms) << " ms"
      << (w->still_held.empty() ? ", until every lock was free\n"
                                : ", and at the last stop " + w->still_held + " was still held\n");
  }
  for (const auto& t : r.transfers) {
    if (t.agent_phases.empty()) continue;
    s << "  " << t.direction << " transfer time:";
    for (const auto& p : t.agent_phases) {
      snprintf(line, sizeof line, " %s %.1f ms", p.name.c_str(), p.ms);
      s << line;
    }
    snprintf(line, sizeof line, " (agent CPU %.1f ms; %.1f MiB copied", t.cpu_ms, t.copy_bytes / 1048576.0);
    s << line;
    if (t.walked) s << "; " << t.walked << " elements walked member by member, without a compiled plan";
    s << ")\n";
  }
  if (r.time_limit_ms > 0 && r.cpu_budget_ms > 0) {
    snprintf(line, sizeof line,
             "  time limit: CPU budget %.0f ms (F and R used %.0f ms), wall ceiling %.0f ms (%.0f ms waiting for a "
             "CPU not counted)\n",
             r.cpu_budget_ms, r.agents_cpu_ms, r.time_limit_ms, r.cpu_wait_ms);
    s << line;
  } else if (r.time_limit_ms > 0) {
    snprintf(line, sizeof line, "  time limit: %.0f ms\n", r.time_limit_ms);
    s << line;
  }
}

nlohmann::json precopy_to_json(const Precopy& p) {
  return {{"verdict", p.verdict},           {"detail", p.detail},
          {"first_stop_ms", p.first_stop_ms}, {"second_stop_ms", p.second_stop_ms},
          {"pages_total", p.pages_total},   {"pages_same_frame", p.pages_same_frame},
          {"pages_read", p.pages_read},     {"bytes_changed", p.bytes_changed},
          {"ranges_changed", p.ranges_changed}, {"pages_delta", p.pages_delta},
          {"future_pages_delta", p.future_pages_delta}, {"steps_ms", p.steps_ms},
          {"rounds", p.rounds}, {"round_stops_ms", p.round_stops_ms},
          {"stops_retried", p.stops_retried}, {"stops_retried_total", p.stops_retried_total}};
}

Precopy precopy_from_json(const nlohmann::json& j) {
  return {j.value("verdict", ""),          j.value("detail", ""),
          j.value("first_stop_ms", 0.0),   j.value("second_stop_ms", 0.0),
          j.value("pages_total", uint64_t{0}), j.value("pages_same_frame", uint64_t{0}),
          j.value("pages_read", uint64_t{0}), j.value("bytes_changed", uint64_t{0}),
          j.value("ranges_changed", uint64_t{0}), j.value("pages_delta", uint64_t{0}),
          j.value("future_pages_delta", uint64_t{0}),
          j.value("steps_ms", std::vector<std::pair<std::string, double>>{}),
          j.value("rounds", 0), j.value("round_stops_ms", std::vector<double>{}),
          j.value("stops_retried", std::vector<std::string>{}), j.value("stops_retried_total", 0)};
}

// Pre-copy's verdict and stops, for people.
void render_precopy(std::ostringstream& s, const Precopy& p) {
  char ms[64];
  snprintf(ms, sizeof ms, "%.1f ms, then %.1f ms", p.first_stop_ms, p.second_stop_ms);
  s << "  pre-copy: " << p.verdict << (p.detail.empty() ? "" : " (" + p.detail + ")") << "; the old version was stopped "
    << ms;
  if (p.verdict == "changed" || p.verdict == "delta")
    s << "; " << p.bytes_changed << " bytes of memory changed in " << p.ranges_changed << " ranges";
  if (p.verdict == "delta")
    s << ", transferred again: " << p.pages_delta << " pages of the old version, " << p.future_pages_delta
      << " of the new one written";
  if (p.rounds > 0) s << "; " << p.rounds << " round(s) on the delta while it served";
  if (p.stops_retried_total > 0)
    s << "; seized again " << p.stops_retried_total << " time(s), found elsewhere than at the snapshot (first: "
      << p.stops_retried.front() << ")";
  s << "\n";
}

// What the new version may have served during the grace period, for people.
void render_grace(std::ostringstream& s, const Report& r) {
  const Grace& g = *r.grace;
  const bool rolled_back = r.outcome == Outcome::kRolledBackAfterCommit;
  char ms[32];
  snprintf(ms, sizeof ms, "%.0f", g.ms);
  s << "  grace period: the new version ran " << ms << " ms under watch: " << g.verdict
    << (g.health.empty() ? "" : " (" + g.health + ")") << "\n";
  for (const auto& c : g.connections) {
    s << "    connection fd " << c.fd << (c.peer.empty() ? "" : " from " + c.peer) << ": "
      << (c.read ? "v2 read from it" : "v2 did not read from it") << (c.replied ? ", v2 replied on it" : "");
    if (rolled_back && c.replied) s << " (a request v2 acknowledged there is possibly lost)";
    if (!c.closed.empty()) s << "; " << c.closed;
    s << "\n";
  }
  if (g.accepted)
    s << "    " << g.accepted << " connection(s) accepted by v2 on the old version's listening sockets"
      << (g.replied_on_accepted ? ", " + std::to_string(g.replied_on_accepted) + " replied on" : "")
      << (rolled_back ? " (closed with v2; a request acknowledged there is possibly lost)" : "") << "\n";
  for (const auto& line : g.restored) s << "    put back for the old version: " << line << "\n";
}

}  // namespace

const char* to_string(Outcome o) {
  for (const auto& [v, s] : kOutcomes)
    if (v == o) return s;
  return "unknown";
}

const char* to_string(Reason r) {
  for (const auto& [v, s] : kReasons)
    if (v == r) return s;
  return "unknown";
}

std::optional<Outcome> outcome_from_string(const std::string& s) {
  for (const auto& [v, name] : kOutcomes)
    if (s == name) return v;
  return std::nullopt;
}

std::optional<Reason> reason_from_string(const std::string& s) {
  for (const auto& [v, name] : kReasons)
    if (s == name) return v;
  return std::nullopt;
}

double Report::total_ms() const {
  double t = 0;
  for (const auto& p : phases) t += p.ms;
  return t;
}

nlohmann::json to_json(const Report& r) {
  nlohmann::json j;
  j["format"] = kReportFormat;
  j["outcome"] = to_string(r.outcome);
  j["reason"] = r.reason == Reason::kNone ? nlohmann::json(nullptr) : nlohmann::json(to_string(r.reason));
  j["message"] = r.message;
  j["advice"] = r.advice;
  j["started_at"] = r.started_at;
  j["old_pid"] = r.old_pid;
  j["new_pid"] = r.new_pid;
  j["old"] = {{"path", r.old_binary.path}, {"build_id", r.old_binary.build_id}};
  j["new"] = {{"path", r.new_binary.path}, {"build_id", r.new_binary.build_id}};
  j["phases"] = nlohmann::json::array();
  for (const auto& p : r.phases) j["phases"].push_back({{"name", p.name}, {"ms", p.ms}});
  j["total_ms"] = r.total_ms();
  if (r.crash) {
    const Crash& c = *r.crash;
    j["crash"] = {{"process", c.process},         {"signal", c.signal},
                  {"signal_name", sys::signal_name(c.signal)}, {"fault_address", sys::hex(c.fault_address)},
                  {"instruction", c.instruction}, {"symbol", c.symbol}};
  }
  j["transfers"] = nlohmann::json::array();
  for (const auto& t : r.transfers)
    j["transfers"].push_back({{"direction", t.direction},
                              {"objects", t.objects},
                              {"bytes", t.bytes},
                              {"pointers", t.pointers},
                              {"transforms", t.transforms},
                              {"carved", t.carved},
                              {"containers", t.containers},
                              {"container_free_bytes", t.container_free_bytes},
                              {"dead_pointers", t.dead_pointers},
                              {"unmapped_words", t.unmapped_words},
                              {"plugin_calls", t.plugin_calls},
                              {"unvalidated", t.unvalidated},
                              {"keep_new_candidates", t.keep_new_candidates},
                              {"integers", t.integers},
                              {"literals", t.literals},
                              {"agent_phases", phases_to_json(t.agent_phases)},
                              {"copy_bytes", t.copy_bytes},
                              {"copy_untouched_bytes", t.copy_untouched_bytes},
                              {"copy_small_page_bytes", t.copy_small_page_bytes},
                              {"walked", t.walked},
                              {"cpu_ms", t.cpu_ms}});
  j["differences"] = nlohmann::json::array();
  for (const auto& d : r.differences)
    j["differences"].push_back(
        {{"where", d.where}, {"address", sys::hex(d.address)}, {"past", d.past}, {"reversed", d.reversed}});
  j["differences_total"] = r.differences_total;
  j["needs_user_code"] = r.needs_user_code;
  j["detail"] = r.detail;
  j["startup_stderr"] = printable(r.startup_stderr);
  j["startup_actions"] = nlohmann::json::array();
  for (const auto& a : r.startup_actions)
    j["startup_actions"].push_back({{"call", a.call}, {"action", a.action}, {"detail", a.detail}});
  if (r.grace) j["grace"] = grace_to_json(*r.grace);
  j["pending_signals"] = nlohmann::json::array();
  for (const auto& p : r.pending_signals)
    j["pending_signals"].push_back({{"signal", p.signal}, {"name", p.name}, {"delivered", p.delivered}, {"how", p.how}});
  j["stall_ms"] = r.stall_ms;
  j["stops"] = nlohmann::json::array();
  for (const auto& st : r.stops) j["stops"].push_back({{"how", st.how}, {"seizures", st.seizures}});
  if (r.lock_wait)
    j["lock_wait"] = {{"first_held", r.lock_wait->first_held}, {"stops", r.lock_wait->stops},
                      {"waited_ms", r.lock_wait->waited_ms}, {"still_held", r.lock_wait->still_held}};
  j["time_limit_ms"] = r.time_limit_ms;
  j["cpu_budget_ms"] = r.cpu_budget_ms;
  j["agents_cpu_ms"] = r.agents_cpu_ms;
  j["cpu_wait_ms"] = r.cpu_wait_ms;
  if (r.precopy) j["precopy"] = precopy_to_json(*r.precopy);
  return j;
}

// The caveat every TTST_KEEP_NEW suggestion carries (REPORT.md, keep_new_candidates).
const char* const kKeepNewCaveat =
    "a suggestion: keep it only if it is built from code alone; state written at start-up that the transferred state "
    "depends on, such as a hash seed, must come from the old version";

Report report_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw std::runtime_error("report is not a JSON object");
  Report r;
  auto outcome = outcome_from_string(get_string(j, "outcome"));
  if (!outcome) throw std::runtime_error("report has an unknown \"outcome\"");
  r.outcome = *outcome;
  const auto& reason = require(j, "reason");
  if (reason.is_null()) {
    r.reason = Reason::kNone;
  } else {
    auto parsed = reason.is_string() ? reason_from_string(reason.get<std::string>()) : std::nullopt;
    if (!parsed) throw std::runtime_error("report has an unknown \"reason\"");
    r.reason = *parsed;
  }
  r.message = get_string(j, "message");
  r.advice = j.value("advice", "");
  r.started_at = j.value("started_at", "");
  r.old_pid = j.value("old_pid", int64_t{0});
  r.new_pid = j.value("new_pid", int64_t{0});
  const auto& old_b = require(j, "old");
  const auto& new_b = require(j, "new");
  r.old_binary = {old_b.value("path", ""), old_b.value("build_id", "")};
  r.new_binary = {new_b.value("path", ""), new_b.value("build_id", "")};
  for (const auto& p : require(j, "phases")) r.phases.push_back({p.at("name"), p.at("ms")});
  if (j.contains("crash")) {
    const auto& c = j.at("crash");
    r.crash = Crash{c.value("process", ""), c.value("signal", 0),
                    std::stoull(c.value("fault_address", std::string("0")), nullptr, 16),
                    c.value("instruction", ""), c.value("symbol", "")};
  }
  for (const auto& t : j.value("transfers", nlohmann::json::array())) {
    r.transfers.push_back({t.value("direction", ""), t.value("objects", uint64_t{0}), t.value("bytes", uint64_t{0}),
                           t.value("pointers", uint64_t{0}), t.value("transforms", uint64_t{0}),
                           t.value("carved", uint64_t{0}), t.value("containers", uint64_t{0}),
                           t.value("container_free_bytes", uint64_t{0}), {}, t.value("dead_pointers", uint64_t{0}),
                           t.value("unmapped_words", uint64_t{0}),
                           t.value("keep_new_candidates", std::vector<std::string>{}),
                           t.value("plugin_calls", uint64_t{0}), t.value("unvalidated", std::vector<std::string>{}),
                           t.value("integers", uint64_t{0}), t.value("literals", uint64_t{0}),
                           phases_from_json(t.value("agent_phases", nlohmann::json::array())),
                           t.value("copy_bytes", uint64_t{0}), t.value("cpu_ms", 0.0)});
    r.transfers.back().copy_untouched_bytes = t.value("copy_untouched_bytes", uint64_t{0});
    r.transfers.back().copy_small_page_bytes = t.value("copy_small_page_bytes", uint64_t{0});
    r.transfers.back().walked = t.value("walked", uint64_t{0});
  }
  for (const auto& d : j.value("differences", nlohmann::json::array()))
    r.differences.push_back({d.value("where", ""), std::stoull(d.value("address", std::string("0")), nullptr, 16),
                             d.value("past", ""), d.value("reversed", "")});
  r.differences_total = j.value("differences_total", uint64_t{r.differences.size()});
  r.needs_user_code = j.value("needs_user_code", std::vector<std::string>{});
  r.detail = j.value("detail", "");
  r.startup_stderr = j.value("startup_stderr", "");
  for (const auto& a : j.value("startup_actions", nlohmann::json::array()))
    r.startup_actions.push_back({a.value("call", ""), a.value("action", ""), a.value("detail", "")});
  if (j.contains("grace") && j.at("grace").is_object()) r.grace = grace_from_json(j.at("grace"));
  for (const auto& p : j.value("pending_signals", nlohmann::json::array()))
    r.pending_signals.push_back({p.value("signal", 0), p.value("name", ""), p.value("delivered", false), p.value("how", "")});
  r.stall_ms = j.value("stall_ms", 0.0);
  for (const auto& st : j.value("stops", nlohmann::json::array()))
    r.stops.push_back({st.value("how", ""), st.value("seizures", 1)});
  if (j.contains("lock_wait") && j.at("lock_wait").is_object()) {
    const nlohmann::json& w = j.at("lock_wait");
    r.lock_wait = LockWait{w.value("first_held", ""), w.value("stops", 0), w.value("waited_ms", 0.0),
                           w.value("still_held", "")};
  }
  r.time_limit_ms = j.value("time_limit_ms", 0.0);
  r.cpu_budget_ms = j.value("cpu_budget_ms", 0.0);
  r.agents_cpu_ms = j.value("agents_cpu_ms", 0.0);
  r.cpu_wait_ms = j.value("cpu_wait_ms", 0.0);
  if (j.contains("precopy") && j.at("precopy").is_object()) r.precopy = precopy_from_json(j.at("precopy"));
  return r;
}

std::string render_summary(const Report& r) {
  std::ostringstream s;
  switch (r.outcome) {
    case Outcome::kCommitted:
      s << "COMMITTED: pid " << r.new_pid << " now runs " << r.new_binary.path << " (was pid " << r.old_pid << ")\n";
      break;
    case Outcome::kRolledBack:
      s << "ROLLED BACK (" << to_string(r.reason) << "): " << r.message << "\n";
      s << "  pid " << r.old_pid << " continues running " << r.old_binary.path << ", unchanged.\n";
      break;
    case Outcome::kRolledBackAfterCommit:
      s << "ROLLED BACK AFTER COMMIT (" << to_string(r.reason) << "): " << r.message << "\n";
      s << "  pid " << r.old_pid << " resumed running " << r.old_binary.path
        << " with its state as before the update; what the new version served meanwhile is listed below.\n";
      break;
    case Outcome::kRefused:
      s << "REFUSED (" << to_string(r.reason) << "): " << r.message << "\n";
      s << "  pid " << r.old_pid << " was not touched.\n";
      break;
  }
  if (!r.advice.empty()) s << "  what to do: " << r.advice << "\n";
  if (!r.started_at.empty()) s << "  started:    " << r.started_at << "\n";
  s << "  old:        " << r.old_binary.path << "  build-id " << (r.old_binary.build_id.empty() ? "-" : r.old_binary.build_id) << "\n";
  s << "  new:        " << r.new_binary.path << "  build-id " << (r.new_binary.build_id.empty() ? "-" : r.new_binary.build_id) << "\n";
  if (!r.phases.empty()) {
    s << "  phases:\n";
    char line[128];
    for (const auto& p : r.phases) {
      snprintf(line, sizeof line, "    %-10s %9.2f ms\n", p.name.c_str(), p.ms);
      s << line;
    }
    snprintf(line, sizeof line, "    %-10s %9.2f ms\n", "total", r.total_ms());
    s << line;
  }
  for (const auto& t : r.transfers)
    s << "  " << t.direction << " transfer: " << t.objects << " objects, " << t.bytes << " bytes, " << t.pointers
      << " pointers translated, " << t.transforms << " type transformations"
      << (t.containers ? ", " + std::to_string(t.carved) + " of the objects carved out of " + std::to_string(t.containers) +
                             " containers (" + std::to_string(t.container_free_bytes) + " bytes free memory, not state)"
                       : std::string())
      << (t.plugin_calls ? ", " + std::to_string(t.plugin_calls) + " calls of the transfer plugin" : std::string())
      << "\n";
  render_timing(s, r);
  for (const auto& t : r.transfers) {
    for (const auto& g : t.keep_new_candidates)
      s << "  candidate for TTST_KEEP_NEW(" << g << "): v2's start-up builds it again, longer (" << kKeepNewCaveat
        << ")\n";
    for (const auto& u : t.unvalidated) s << "  unvalidated (no backward transfer function): " << u << "\n";
  }
  for (const auto& t : r.transfers)  // the value policy's counts (stfw/README.md "Values in pointer members")
    if (t.integers + t.unmapped_words + t.dead_pointers + t.literals)
      s << "  " << t.direction << " transfer carried as they are: " << t.integers + t.unmapped_words << " integers ("
        << t.unmapped_words << " in no mapping, " << t.integers << " tagged), " << t.dead_pointers
        << " dead pointers; " << t.literals << " string literal pointers mapped by position\n";
  if (r.crash) {
    const Crash& c = *r.crash;
    s << "  crash in the " << c.process << " process: " << sys::signal_name(c.signal) << " at " << sys::hex(c.fault_address)
      << "\n";
    if (!c.instruction.empty()) s << "    instruction: " << c.instruction << "\n";
    if (!c.symbol.empty()) s << "    in:          " << c.symbol << "\n";
  }
  if (!r.differences.empty()) {
    s << "  state differences between past and reversed (" << r.differences_total << " in all):\n";
    for (const auto& d : r.differences)
      s << "    " << d.where << " @" << sys::hex(d.address) << ": past " << d.past << ", reversed " << d.reversed << "\n";
    if (r.differences_total > r.differences.size())
      s << "    ... and " << (r.differences_total - r.differences.size()) << " more\n";
  }
  if (!r.needs_user_code.empty()) {
    s << "  objects that need transfer code (annotate them in the new version; see ttst-meta plan):\n";
    for (const auto& id : r.needs_user_code) s << "    " << id << "\n";
  }
  if (!r.detail.empty()) s << "  detail: " << r.detail << "\n";
  if (!r.startup_actions.empty()) {
    s << "  the new version's start-up calls on the old version's sockets and files, and its descriptors:\n";
    for (const auto& a : r.startup_actions) s << "    " << a.call << ": " << a.action << " (" << a.detail << ")\n";
  }
  if (r.grace) render_grace(s, r);
  if (!r.pending_signals.empty()) {
    s << "  signals the old version received during the update:\n";
    for (const auto& p : r.pending_signals)
      s << "    " << p.name << ": " << (p.delivered ? "passed on to the new version " : "NOT passed on: ") << p.how << "\n";
  }
  if (r.precopy) render_precopy(s, *r.precopy);
  if (!r.startup_stderr.empty()) {
    s << "  the new version's start-up stderr (its last " << r.startup_stderr.size() << " bytes):\n";
    std::istringstream lines(printable(r.startup_stderr));
    for (std::string line; std::getline(lines, line);) s << "    | " << line << "\n";
  }
  return s.str();
}

std::filesystem::path default_report_dir() {
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state)
    return std::filesystem::path(state) / "ttst" / "reports";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : "/tmp") / ".local" / "state" / "ttst" / "reports";
}

void check_report_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
  // Writing is the only reliable test (root passes every permission check, a
  // read-only file system fails only on write).
  const std::filesystem::path probe = dir / (".ttst-write-check-" + std::to_string(::getpid()));
  sys::write_file_atomically(probe.string(), std::string_view());
  std::filesystem::remove(probe, ec);
}

std::filesystem::path write_report(const Report& r, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create report directory " + dir.string() + ": " + ec.message());
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[64];
  snprintf(stamp, sizeof stamp, "%04d%02d%02dT%02d%02d%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  std::string base = std::string("ttst-") + stamp + "-" + std::to_string(r.old_pid);
  std::filesystem::path json_path = dir / (base + ".json");
  sys::write_file_atomically(json_path.string(), to_json(r).dump(2) + "\n");
  sys::write_file_atomically((dir / (base + ".txt")).string(), render_summary(r));
  return json_path;
}

}  // namespace ttst::supervisor
