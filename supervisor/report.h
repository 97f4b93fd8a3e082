// report — the post-mortem record of one update attempt, committed or not.
//
// Every attempt writes one: a JSON file for tools and a human summary beside it.
// The JSON keys are a contract (documented in supervisor/REPORT.md); the summary is
// what an administrator reads first, so it leads with one line saying what happened
// and what to do.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ttst::supervisor {

// kRolledBackAfterCommit: the update committed, then the new version crashed or
// hung within the grace period (grace_period.h) and the old version resumed.
enum class Outcome { kCommitted, kRolledBack, kRefused, kRolledBackAfterCommit };

// Why an attempt did not commit. The JSON spelling is the snake_case name.
enum class Reason {
  kNone,              // committed
  kCrash,             // F, R or the agent crashed
  kTimeout,           // the transaction exceeded its time budget
  kInvariant,         // the transfer found a state it must not carry over
  kStateDiff,         // P and R differ after the round trip
  kStartupCrash,      // v2 crashed before reaching its update point
  kNoUpdatePoint,     // v2 never reached an update point in time
  kNotQuiescent,      // P could not be brought to an update point
  kNeedsUserCode,     // the plan has objects that need transfer code
  kBadInput,          // refused: the request cannot be carried out
  kValidateOnly,      // --validate-only: the transaction passed, then rolled back
  kResourceLimit,     // F or R ran out of a kernel resource (file descriptors)
  kStartupSideEffect, // v2's start-up made a call that would change a socket P shares
  kInternal,          // a bug or resource failure in ttst itself; P intact
  kHang,              // after the commit, v2 neither idled at its loop nor reached its update point
  kChildProcess,      // P had a child process at update time (past_children.h)
};

const char* to_string(Outcome o);
const char* to_string(Reason r);
std::optional<Outcome> outcome_from_string(const std::string& s);
std::optional<Reason> reason_from_string(const std::string& s);

struct Phase {
  std::string name;  // plan, quiesce, create, startup, forward, backward, diff, commit, rollback
  double ms = 0;
};

// How one stop of P brought it to a place the transfer starts from (pre-copy
// stops it more than once).
struct PastStopHow {
  // found_quiescent: at its wait or update point when seized; seized_again: found
  // running, released and seized again where it waits; driven_to_wait (pre-copy)
  // or driven_to_update_point: run under ptrace to there (the stop protocol).
  std::string how;
  int seizures = 1;  // times P was seized for this stop (released between)
};

// Locks of P's static storage a thread held at the first stop (past_locks.h): P
// was let run and stopped again until its threads let go of them, or the wait's
// bound ran out and the transfer went on (the agent then refuses a held lock it
// transfers).
struct LockWait {
  std::string first_held;  // what the first stop found: "assoc.c::maintenance_lock (a pthread mutex held by thread 9)"
  int stops = 0;           // stops after the first one
  double waited_ms = 0;    // from the first stop to the last
  std::string still_held;  // what the last stop found; empty: every lock free
};

struct Binary {
  std::string path;
  std::string build_id;  // hex, empty when the binary has none
};

// A crash of F, R or the agent, as the supervisor saw it through ptrace.
struct Crash {
  std::string process;      // "future", "reversed"
  int signal = 0;
  uint64_t fault_address = 0;
  std::string instruction;  // decoded faulting instruction, e.g. "mov qword ptr [rax], 0"
  std::string symbol;       // function (+offset) holding the faulting instruction
};

// One difference between P and R, already named for people.
struct Difference {
  std::string where;        // "table.count", "heap object main#2 #17 +8 -> entry.value"
  uint64_t address = 0;     // in P
  std::string past;         // P's value rendered by type
  std::string reversed;     // R's value rendered by type
};

// One call of v2's start-up on a listening socket inherited from P that the
// supervisor answered itself (startup_adoption.h).
struct StartupAction {
  std::string call;    // "bind(4, 0.0.0.0:8080)", "listen(4, 128)"
  std::string action;  // adopted, already_so, held_back, made_at_commit, failed_at_commit; staged, deferred,
                       // shared (startup_files.h); closed_at_commit, kept (P's descriptors)
  std::string detail;  // "fd 4 is now P's listening socket (inherited as fd 3)"
};

// What one state transfer carried over (the agent's counters).
struct Transfer {
  std::string direction;  // forward (P into F), backward (F into R)
  uint64_t objects = 0, bytes = 0, pointers = 0, transforms = 0;
  // From the agent's line of figures (stfw/README.md): typed sub-objects carved out
  // of containers (counted in `objects` too), the containers (slab pages, pool
  // blocks), and their bytes in no sub-object (free memory, not state).
  uint64_t carved = 0, containers = 0, container_free_bytes = 0;
  // Forward: descriptors of P's library instances F does not use (closed at commit).
  std::vector<int> past_library_fds;
  // Pointer values carried as they are (stfw/README.md "Dead pointers"): into the
  // source's freed heap memory, and in no mapping of the source.
  uint64_t dead_pointers = 0, unmapped_words = 0;
  // Forward: globals whose graph v2's start-up built again, only longer (a command
  // table one entry longer): suggestions for TTST_KEEP_NEW, never acted on.
  std::vector<std::string> keep_new_candidates;
  // With a transfer plugin (--xfer): calls of its functions, and (backward) the
  // targets it transforms forward only, with their object counts: "struct entry
  // (200 objects)". Those objects went unvalidated (R kept P's bytes).
  uint64_t plugin_calls = 0;
  std::vector<std::string> unvalidated = {};
  // Integers a TTST_TAGGED tag says a pointer member holds (carried as they are),
  // and pointers into string literals (mapped by position).
  uint64_t integers = 0, literals = 0;
  // Where the agent's time went (its line of figures: rdtsc cycles per phase, turned
  // into ms by the supervisor's own clock around the run): copy (the peer's memory
  // read, `copy_bytes`), index, type, map, write; and the agent thread's CPU time.
  std::vector<Phase> agent_phases = {};
  uint64_t copy_bytes = 0;
  double cpu_ms = 0;
  // Of copy_bytes, the peer's pages never touched (private anonymous, not present
  // nor swapped: zeros), left out of the read.
  uint64_t copy_untouched_bytes = 0;
  // Of copy_bytes, the agent's copy put on small pages instead of huge ones: the
  // peer's sparse 2 MiB windows (a thread stack's few used pages), where a huge page
  // would be faulted in and zeroed whole for one page.
  uint64_t copy_small_page_bytes = 0;
  // Heap elements and carved sub-objects typed or written member by member (no
  // compiled plan for their types, or one that could not decide): the engine's slow
  // path, counted in each of those two modes.
  uint64_t walked = 0;
};

// One of P's connections that v2 used during the grace period (grace_period.h).
struct GraceConnection {
  int fd = -1;              // P's descriptor
  std::string peer;         // "127.0.0.1:4242", "" when unknown
  bool read = false;        // v2 read from it: what it read is gone for P
  bool replied = false;     // v2 wrote to it: a request may have been acknowledged
  std::string closed;       // after a rollback: "closed" or why it could not be
};

// A signal pending in P at the commit (sent to it during the update, while it was
// stopped): passed on to F, or named (pending_signals.h).
struct PassedSignal {
  int signal = 0;
  std::string name;        // SIGTERM, SIGRTMIN+1
  bool delivered = false;  // sent to the new version
  std::string how;         // "with its siginfo (sender pid 42, value 7)", or why not sent
};

// The grace period after the commit (grace_period.h).
struct Grace {
  double ms = 0;                // how long v2 ran under watch
  std::string verdict;          // healthy, crashed, exited, hung
  std::string health;           // how the verdict was reached: "idle at its loop's wait", ...
  std::vector<GraceConnection> connections;  // P's connections v2 read or wrote
  uint64_t accepted = 0;        // connections v2 accepted on P's listening sockets
  uint64_t replied_on_accepted = 0;  // of those, how many v2 wrote to
  std::vector<std::string> restored;  // after a rollback: what was put back for P
};

// Pre-copy (--precopy, precopy_delta.h): the snapshot round run while P served,
// and what the second stop found.
struct Precopy {
  std::string verdict;         // "unchanged": F, filled from the snapshot, committed;
                               // "delta": only memory changed, in place: the round's
                               // transfers ran again on P's changed pages (stage 2);
                               // "changed": fell back to the transfer in the stop;
                               // "not_used": P's state cannot be pre-copied soundly
  std::string detail;          // what changed, or why it was not used
  double first_stop_ms = 0;    // P stopped for the snapshot (quiesce and forks)
  double second_stop_ms = 0;   // P stopped again until the delta's verdict
  uint64_t pages_total = 0, pages_same_frame = 0, pages_read = 0;  // the delta's comparison
  // The delta's size, what a delta re-transfer (stage 2) would start from: bytes of
  // state that differ between P and the snapshot, in how many ranges (memory is
  // compared even when a register or descriptor already decided "changed").
  uint64_t bytes_changed = 0, ranges_changed = 0;
  // Stage 2 ("delta"): P's pages transferred again, and F's pages its second run wrote.
  uint64_t pages_delta = 0, future_pages_delta = 0;
  // Stage 2's steps of the supervisor's own, in the stop (ms, in the order run):
  // forks, F's written pages found, P's pages copied into R (the agents' runs are
  // the transfers' figures).
  std::vector<std::pair<std::string, double>> steps_ms;
  // Rounds on the delta run while P served (another round instead of the stop's
  // second runs when P wrote many pages), and each one's stop (ms).
  int rounds = 0;
  std::vector<double> round_stops_ms;
  // Why P, seized again, was released and seized once more: found elsewhere than
  // at the snapshot (each a stop of its own; the first 8 said, all counted).
  std::vector<std::string> stops_retried;
  int stops_retried_total = 0;
};

struct Report {
  Outcome outcome = Outcome::kRefused;
  Reason reason = Reason::kNone;
  std::string message;      // one line: what happened
  std::string advice;       // one line: what to do
  std::string started_at;   // ISO 8601, UTC
  int64_t old_pid = 0;
  int64_t new_pid = 0;      // the new process serving after a commit; 0 otherwise (old_pid serves)
  Binary old_binary;
  Binary new_binary;
  std::vector<Phase> phases;
  std::optional<Crash> crash;
  std::vector<Transfer> transfers;      // the transfers that completed, in order
  std::vector<Difference> differences;  // capped
  uint64_t differences_total = 0;       // including those beyond the cap
  std::vector<std::string> needs_user_code;  // state IDs, when reason == kNeedsUserCode
  std::string detail;       // free text: the invariant message, the blocked location
  std::string startup_stderr;  // what v2 wrote to its stderr during start-up (its last 4 KiB)
  std::vector<StartupAction> startup_actions;  // v2's start-up calls on P's sockets and files; P's descriptors
  // Descriptors of P's library instances (epoll, signal pipes) that a library adapter
  // of the forward transfer names; closed in F at the commit (startup_files.h). Not
  // written to the JSON (the startup_actions entries say what was closed).
  std::vector<int> past_library_fds;
  std::optional<Grace> grace;  // when the commit ran a grace period
  std::vector<PassedSignal> pending_signals;  // after a commit: P's pending signals, passed on or named
  // How long P was stopped before the program served again (F after a commit, P
  // after a rollback or pre-copy's snapshot), by the supervisor's clock: what
  // clients felt; the longest stop when P was stopped twice (past_stop.h). 0: never stopped.
  double stall_ms = 0;
  std::vector<PastStopHow> stops;  // each stop of P, in order
  std::optional<LockWait> lock_wait;  // when the first stop found a lock held
  // The time limit the attempt ran under: --timeout, or derived from P's size (time_limit.h).
  double time_limit_ms = 0;
  std::optional<Precopy> precopy;  // with --precopy
  // The default time limit (time_limit.h; all 0 with --timeout): the CPU budget, and
  // the kernel's figures at the end: F's and R's CPU, the waits for a CPU not counted.
  double cpu_budget_ms = 0, agents_cpu_ms = 0, cpu_wait_ms = 0;

  double total_ms() const;
};

nlohmann::json to_json(const Report& r);
// Throws std::runtime_error naming the first missing or malformed key.
Report report_from_json(const nlohmann::json& j);

// The human summary: first line is the verdict, then phases and evidence.
std::string render_summary(const Report& r);

// Where reports go by default: $XDG_STATE_HOME/ttst/reports, else
// ~/.local/state/ttst/reports.
std::filesystem::path default_report_dir();

// Checks, before an attempt, that reports can be written into `dir`: creates it and
// writes (then removes) a probe file there. Throws std::runtime_error saying why
// not (the directory and the errno text).
void check_report_dir(const std::filesystem::path& dir);

// Writes <dir>/ttst-<UTC time>-<old pid>.json and .txt (atomically: temp file then
// rename), creating dir. Returns the JSON path. Throws std::runtime_error on I/O
// failure with the path and errno text.
std::filesystem::path write_report(const Report& r, const std::filesystem::path& dir);

}  // namespace ttst::supervisor
