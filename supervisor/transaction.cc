// transaction.cc — see transaction.h. run_update is the list of the phases; each
// phase is one member of Transaction. What each leaves behind when the transaction
// ends there (transaction_end.h: refuse / rollback / internal):
//   plan       nothing touched (the checks of preflight.h)     -> refused (2)
//   quiesce    P seized and kept stopped; a P found busy is
//              driven to its update point (update_requested)   -> refused (2)
//   create     F forked from P, exec'd (EXITKILL: dies with us)
//   startup    F run to its first update point
//   forward    the agent in F reads P
//   backward   R forked from P, the agent in R reads F
//   diff       P and R compared, both only read               -> rolled back (1)
//   commit     F released first, then P killed while still stopped (ttst_abi.h §5);
//              R sent SIGKILL at the commit and reaped after F serves (end_later)
//   grace      (--grace) F serves under watch while P is kept stopped, doomed only
//              in its registers; F crashing or hanging -> P resumes, its shared
//              descriptions put back (grace_period.h)         -> rolled back after
//              commit (1)
//   rollback   F and R killed, the flag cleared if P was driven, P released: its
//              threads run on exactly where they were
// With --precopy (README "Pre-copy"), after quiesce:
//   snapshot   S and K forked from P (EXITKILL, invisible to P), P released
//   create .. diff  as above, from S, while P serves       -> rolled back (1),
//              P not stopped again
//   stop       P seized again, driven if busy                -> refused (2);
//              found elsewhere than at the snapshot, released and seized again
//              (a few short tries: stop_where_snapshot_was)
//   delta      P vs K and P's kernel-side facts: unchanged -> commit; changed
//              -> F and R ended, create .. diff again from P, then commit
// A bug (any other exception) is internal (3) wherever it happens.
#include "supervisor/transaction.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>

#include "diff/differ.h"
#include "inject/decode.h"
#include "inject/process.h"
#include "inject/error.h"
#include "inject/process_factory.h"
#include "inject/remote_syscalls.h"
#include "inject/sys/atomic_file.h"
#include "inject/sys/proc_syscall.h"
#include "supervisor/agent_transfer.h"
#include "supervisor/background_call.h"
#include "supervisor/future_startup.h"
#include "supervisor/future_threads.h"
#include "supervisor/grace_period.h"
#include "supervisor/past_children.h"
#include "supervisor/past_end.h"
#include "supervisor/pending_signals.h"
#include "supervisor/precopy_delta.h"
#include "supervisor/preflight.h"
#include "supervisor/proc_stat.h"
#include "supervisor/quiesce/drive_threads.h"
#include "supervisor/past_frames.h"
#include "supervisor/past_locks.h"
#include "supervisor/past_stop.h"
#include "supervisor/quiesce/quiesce.h"
#include "supervisor/quiesce/runtime_block.h"
#include "supervisor/round_policy.h"
#include "supervisor/service_notify.h"
#include "supervisor/shared_descriptions.h"
#include "supervisor/startup_adoption.h"
#include "supervisor/startup_files.h"
#include "supervisor/state_model_adapter.h"
#include "supervisor/stdio_flush.h"
#include "supervisor/test_hooks.h"
#include "supervisor/thread_pairs.h"
#include "supervisor/transaction_end.h"

namespace ttst::supervisor {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The verdict on a single-threaded P that found it running (mid-request, not
// blocked in a call): what seizing it again where it waits can help.
bool running_alone(const quiesce::Verdict& v) {
  return v.threads.size() == 1 && v.threads[0].state == quiesce::ThreadState::kRunning;
}

// Where /proc shows a thread stopped with registers `r` in a system call while it
// waits in it untraced: the call, the stack pointer, the pc after the `syscall`
// (a call the interrupt rewound to restart — rax back to its number, rip at the
// instruction — returns 2 bytes further).
sys::BlockedIn blocked_where(const user_regs_struct& r) {
  sys::BlockedIn b;
  b.nr = static_cast<long>(r.orig_rax);
  b.sp = r.rsp;
  b.pc = syscall_return_pc(r);
  return b;
}

std::string now_iso() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The report's phase list and the progress callback: one phase runs at a time.
class Phases {
 public:
  Phases(Report& r, const Options& o) : report_(r), opts_(o) {}
  void start(const std::string& name) {
    end();
    name_ = name;
    t0_ = Clock::now();
    if (opts_.progress) opts_.progress(name, -1);
  }
  void end() {
    if (name_.empty()) return;
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0_).count();
    report_.phases.push_back({name_, ms});
    if (opts_.progress) opts_.progress(name_, ms);
    name_.clear();
  }
  const std::string& current() const { return name_; }

 private:
  Report& report_;
  const Options& opts_;
  std::string name_;
  Clock::time_point t0_;
};

// The time limit (time_limit.h) as the phases use it: what is left of the wall
// ceiling, or a budget for one ptrace step: what is left, at least `low`, at most `high`.
struct Deadline {
  TimeLimit limit;
  milliseconds left() { return limit.left(); }
  milliseconds step(milliseconds low, milliseconds high) { return std::max(std::min(left(), high), low); }
};

// Past the commit point P must never run again: its registers are aimed at
// exit_group, so that released by a dying supervisor it ends instead of serving
// beside F.
void doom(inject::Task& thread) {
  user_regs_struct r = thread.get_regs();
  r.rip = inject::find_syscall_site(thread.tid());
  r.rax = SYS_exit_group;
  r.rdi = 0;
  r.orig_rax = ~0ull;  // a pending syscall is skipped, nothing restarts
  thread.set_regs(r);
}

// Proportional set size (KiB) from /proc/PID/smaps_rollup: shared pages counted
// once across P, R and F. 0 when unreadable.
long pss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Pss:", 0) == 0) return std::atol(line.c_str() + 4);
  return 0;
}

int exit_status_of(const Report& r) {
  if (r.reason == Reason::kInternal) return 3;
  switch (r.outcome) {
    case Outcome::kCommitted: return 0;
    case Outcome::kRefused: return 2;
    case Outcome::kRolledBack: return r.reason == Reason::kValidateOnly ? 0 : 1;
    case Outcome::kRolledBackAfterCommit: return 1;
  }
  return 3;
}

// What the commit did beside the switch, for the report's message.
struct CommitNotes {
  StdioFlush flushed;
  ServiceNotify notified;
  std::string pidfile_problem;
  std::optional<Grace> grace;  // the grace period F served (healthy)
  const std::vector<PassedSignal>* signals = nullptr;  // P's pending signals (pending_signals.h)
  PastEnd::State past_state = PastEnd::State::kReaped;  // P after its SIGKILL (past_end.h)
};

// The transfer plugin's targets the backward transfer could not validate (no
// backward function): "; not validated (no backward transfer function): ...".
std::string unvalidated_note(const std::vector<Transfer>& transfers) {
  std::string list;
  for (const Transfer& t : transfers)
    for (const std::string& u : t.unvalidated) list += (list.empty() ? "" : ", ") + u;
  return list.empty() ? "" : "; not validated (the transfer plugin has no backward function for them): " + list;
}

// Issue 19: how the threads were paired, and those v2 added (thread_pairs.h).
std::string threads_note(const std::optional<ThreadPairing>& p) {
  if (!p) return "";
  std::string m = "; " + std::to_string(p->pairs.size()) + " thread(s) paired by start function and creation order";
  for (size_t j : p->added)
    m += "; v2 added " + thread_name(ThreadInfo{p->future[j].tid, p->future[j].start, "", 0, 0}) +
         ", which keeps its start-up state";
  return m;
}

std::string commit_message(pid_t past, const std::string& v2, pid_t future, const CommitNotes& n) {
  std::string m = "updated pid " + std::to_string(past) + " to " + v2 + ": now serving as pid " + std::to_string(future);
  if (n.flushed.bytes)
    m += "; wrote the " + std::to_string(n.flushed.bytes) + " bytes of output the old version had buffered (" +
         std::to_string(n.flushed.files) + (n.flushed.files == 1 ? " file)" : " files)");
  if (n.notified.sent) m += "; told the service manager (NOTIFY_SOCKET) the new main PID";
  if (n.notified.attempted && !n.notified.sent)
    m += "; could not tell the service manager the new main PID (" + n.notified.problem + ")";
  if (n.flushed.lost || !n.flushed.problem.empty())
    m += "; " + std::to_string(n.flushed.lost) + " bytes of its buffered output could not be written (" +
         n.flushed.problem + ")";
  if (!n.pidfile_problem.empty()) m += "; could not rewrite the pid file (" + n.pidfile_problem + ")";
  if (n.past_state == PastEnd::State::kZombie)
    m += "; the old pid " + std::to_string(past) + " is a zombie until its parent process reaps it";
  if (n.past_state == PastEnd::State::kRunning)
    m += "; the old pid " + std::to_string(past) + " had not exited yet (killed)";
  if (n.grace)
    m += "; it served a grace period of " + std::to_string(static_cast<long>(n.grace->ms)) + " ms (" +
         n.grace->health + ") before the old version was ended";
  if (n.signals && !n.signals->empty()) {
    size_t passed = 0;
    for (const PassedSignal& p : *n.signals) passed += p.delivered;
    m += "; passed on " + std::to_string(passed) + " of the " + std::to_string(n.signals->size()) +
         " signal(s) the old version received during the update";
  }
  return m;
}

class Transaction {
 public:
  Transaction(const Options& o, Report& r) : o_(o), rep_(r), phases_(r, o), deadline_{TimeLimit(o.limits)} {}

  void plan();
  void quiesce();
  // Pre-copy (--precopy, README "Pre-copy"): true when F holds, validated, the
  // state P has at its second stop; false when the transfer must run in the stop.
  bool precopy();
  void drive_past(const quiesce::Verdict& verdict);
  void create();
  void startup();
  void forward();
  void backward();
  void diff();
  void validate();
  void commit();
  void commit_with_grace(CommitNotes& notes);
  [[noreturn]] void rollback_after_commit(const GraceVerdict& v, std::optional<inject::SeizedProcess>& hung);
  // The end of a transaction that did not commit: the report, then the rollback.
  void end(const TransactionEnd& e);
  // A ptrace step that ran out of its own bound (inject::Timeout: a remote system
  // call, a stop): once the time limit was spent, the bound was what was left of it,
  // so the limit's timeout, said as such; else the step's own bound (at most 2 s),
  // a process starved or stuck, said as such. Reason timeout either way: no bug.
  TransactionEnd step_out_of_time(const inject::Timeout& e);
  // The default time limit's figures into the report (report.h).
  void record_time_limit();

 private:
  void begin(const std::string& phase);
  [[noreturn]] void out_of_time(const std::string& phase);
  [[noreturn]] void timed_out(const std::string& when);
  void rollback_created();
  void name_differences(const diff::Result& res);
  void commit_step(const char* name) const;
  // The program serves again (F released, or P after a rollback or the snapshot):
  // P's stop ends (past_stop.h); its length, if the longest, is the stall.
  double served_again() { return stop_ ? stop_->end() : 0; }
  // A clone of P (R, or F before it was ever released) sent SIGKILL now and reaped
  // when the transaction ends, outside P's stop: stopped under ptrace, it never
  // runs another instruction, and its memory is torn down while the program
  // serves. One that may be running is killed and waited for at once.
  void end_later(std::optional<inject::ChildProcess>& c);
  // Where a P found running is driven to (drive_past's update point; pre-copy's
  // stops: the snapshot's wait, or any quiescent wait for the snapshot itself).
  enum class DriveTo { kUpdatePoint, kQuiescentWait, kSnapshotWait };
  void seize_past(DriveTo to = DriveTo::kUpdatePoint);
  quiesce::Verdict seize_and_judge();
  bool seize_again_when_waiting(DriveTo to, quiesce::Verdict& verdict);
  void wait_for_free_locks(DriveTo to, std::span<const StaticLock> locks);
  std::vector<HeldLock> locks_held_by_threads(std::span<const StaticLock> locks);
  int seizures_ = 0;  // of the current stop (report.h PastStopHow)
  bool drive_to_wait(DriveTo to);
  void snapshot();
  bool delta_unchanged();
  bool delta_transfer(const MemoryDelta& d, const user_regs_struct& regs, pid_t source, bool keep,
                      std::string* why_not);
  bool another_round();
  bool delta_round();
  // Both of the round's transfers kept for second runs (stage 2).
  bool second_runs_kept() const {
    return kept_forward_ && kept_forward_->run && kept_backward_ && kept_backward_->run;
  }
  void fork_future_key(milliseconds budget);
  void cure_kept_future();
  bool grow_reversed_heap(uint64_t heap_end, milliseconds budget);
  void wait_where_snapshot_was(milliseconds bound);
  void stop_where_snapshot_was();
  void release_past();
  void discard_round();
  std::vector<diff::IgnoredRange> rseq_fields();
  // The process the transfers read and R is forked from: S during pre-copy, else P.
  pid_t source_pid() const { return snapshot_ ? snapshot_->pid() : o_.pid; }
  inject::Task& source_task() { return snapshot_ ? snapshot_->task() : past_->main_thread(); }
  // Its ptrace options, kept through the forks made in it: S keeps EXITKILL.
  unsigned source_options() const { return snapshot_ ? inject::options_child() : inject::kOptionsPast; }
  user_regs_struct source_regs() { return snapshot_ ? snapshot_regs_ : past_->main_thread().get_regs(); }

  const Options& o_;
  Report& rep_;
  Phases phases_;
  Deadline deadline_;
  std::optional<CheckedInputs> inputs_;
  std::vector<uint8_t> plugin_;  // --xfer: the transfer plugin's bytes, passed to the agent as they are
  std::optional<inject::SeizedProcess> past_;
  std::optional<inject::ChildProcess> future_, reversed_;
  std::optional<StartupAdoption> adoption_;  // P's listening sockets v2's start-up re-creates
  std::optional<StartupFiles> files_;        // v2's start-up's file actions held back (startup_files.h)
  // P's registers before it was doomed, while a grace period may still resume it.
  std::optional<user_regs_struct> undoomed_;
  std::optional<SharedDescriptions> shared_;  // P's shared descriptions, for a rollback after the commit
  pid_t future_pid_ = 0;
  milliseconds children_waited_{0};  // how long P's children were waited for (past_children.h)
  bool driven_ = false;  // update_requested written to 1 in P (the stop protocol): cleared on rollback
  bool touched_ = false;  // P was seized once (it may be released again by the pre-copy round)
  std::optional<PastStop> stop_;  // P's current stop (seized, not serving): report.h stall_ms
  // Pre-copy: S, the snapshot the transfers read, and K, the key whose frames the
  // delta compares with P's (precopy_delta.h); P's registers, rseq fields and
  // kernel-side facts at the snapshot.
  std::optional<inject::ChildProcess> snapshot_, key_;
  user_regs_struct snapshot_regs_{};
  // The call the snapshot found P blocked in, as /proc shows it untraced; none when
  // P was driven to its marker for it (never blocked there again) or not in a call.
  std::optional<sys::BlockedIn> snapshot_call_;
  // F_key of F's next second run (delta_transfer), forked from F as soon as F's
  // last run ended, while P serves: F does not run in between, and the fork is no
  // part of P's stop.
  std::optional<inject::ChildProcess> future_key_;
  std::vector<diff::IgnoredRange> snapshot_rseq_;
  std::optional<PastFacts> snapshot_facts_;
  uint64_t snapshot_faults_ = 0;  // P's minor faults at the snapshot (another_round)
  int delta_rounds_ = 0;          // rounds on the delta run so far
  Clock::time_point snapshot_at_{};  // when the last snapshot (S, or a round's K2) was forked
  milliseconds round_took_{0};       // how long P served between the last two snapshots (another_round)
  std::vector<inject::ChildProcess> ended_;  // S and K, killed, reaped when the transaction ends
  // Pre-copy stage 2: the round's transfers, kept for a second run (agent_transfer.h).
  std::optional<KeptTransfer> kept_forward_, kept_backward_;
  inject::LoadBias past_bias_, future_bias_;
  std::optional<quiesce::RemoteRuntimeBlock> past_runtime_, future_runtime_;
  // Issue 19: F's own threads (future_threads.h), P's and F's paired (thread_pairs.h),
  // and the registers of P's other threads while a grace period may resume P.
  std::optional<FutureThreads> future_threads_;
  std::optional<ThreadPairing> thread_pairs_;
  std::vector<std::pair<pid_t, user_regs_struct>> undoomed_others_;
  void pair_threads_of_both();
  void doom_past_threads();
  void undoom_past_threads();
};

void Transaction::begin(const std::string& phase) {
  phases_.start(phase);
  if (o_.test_hooks && o_.test_hooks->bug_in == phase)  // TEST ONLY (test_hooks.h)
    throw std::logic_error("a bug simulated by the test hooks in the " + phase + " phase");
  if (o_.test_hooks && o_.test_hooks->pauses_at(phase)) ::raise(SIGSTOP);  // TEST ONLY (test_hooks.h)
  if (phase != "plan" && deadline_.limit.exceeded().first != Bound::kNone) out_of_time(phase);
}

// The time limit spent before `phase` could start: said as such, not blamed on v2.
void Transaction::out_of_time(const std::string& phase) { timed_out("before the " + phase + " phase could start"); }

TransactionEnd Transaction::step_out_of_time(const inject::Timeout& e) {
  const std::string phase = phases_.current().empty() ? std::string("update") : phases_.current();
  try {
    if (deadline_.limit.exceeded().first != Bound::kNone) timed_out("during the " + phase + " phase (" + e.what() + ")");
    const std::string m = "a step of the " + phase + " phase ran out of its own bound before the time limit did: " +
                          e.what() + " (the process was not scheduled for that long, or is stuck)";
    const std::string advice = "retry when the machine is less busy";
    if (!touched_) refuse(Reason::kTimeout, m + " (the program was not touched)", advice);
    rollback(Reason::kTimeout, m, advice + "; the old version keeps serving");
  } catch (const TransactionEnd& end) {
    return end;
  }
}

void Transaction::timed_out(const std::string& when) {
  const auto [bound, what] = deadline_.limit.exceeded();
  const std::string m = "the time limit ran out " + when + ": " + (bound == Bound::kNone ? "no time was left" : what);
  const std::string advice = o_.limits.hard() ? "raise --timeout"
                                               : "if the machine is only slow, set --timeout (a hard wall bound)";
  if (!touched_) refuse(Reason::kTimeout, m + " (the program was not touched)", advice);
  rollback(Reason::kTimeout, m, advice + "; the old version keeps serving");
}

// --xfer PLUGIN: its bytes (the agent loads and runs them in F and R, never here);
// only what can be told without loading it is checked: readable, an ELF, not huge.
static std::vector<uint8_t> read_plugin(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes;
  if (in) bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  const std::string advice = "build it with ttst-cc --xfer-plugin -o PLUGIN plugin.c (see stfw/xfer/PLUGINS.md)";
  if (!in && bytes.empty()) throw Refusal("cannot read the transfer plugin " + path, advice);
  if (bytes.size() < 64 || bytes[0] != 0x7f || bytes[1] != 'E' || bytes[2] != 'L' || bytes[3] != 'F')
    throw Refusal("the transfer plugin " + path + " is not an ELF file", advice);
  if (bytes.size() > (64u << 20)) throw Refusal("the transfer plugin " + path + " is larger than 64 MiB", advice);
  return bytes;
}

// plan: every check made before touching P (preflight.h); both executables read.
void Transaction::plan() {
  begin("plan");
  try {
    if (!o_.xfer.empty()) plugin_ = read_plugin(o_.xfer);
    inputs_.emplace(check_inputs(o_.pid, o_.new_path, !o_.xfer.empty(), o_.allow_different_program, o_.debug_dirs));
  } catch (const Refusal& r) {
    refuse(r.needs_user_code().empty() ? Reason::kBadInput : Reason::kNeedsUserCode, r.what(), r.advice(),
           r.needs_user_code());
  }
  char exe[4096];
  ssize_t n = readlink(inputs_->v1.path().c_str(), exe, sizeof exe - 1);
  rep_.old_binary.path = n > 0 ? std::string(exe, n) : inputs_->v1.path();
  rep_.new_binary.path = inputs_->v2.path();
  rep_.old_binary.build_id = inputs_->v1.build_id();
  rep_.new_binary.build_id = inputs_->v2.build_id();
}

// quiesce: P seized and kept stopped; the quiescence rule applied to this seizure;
// a P found busy or mid-request driven to its update point (the stop protocol).
void Transaction::quiesce() {
  begin("quiesce");
  // P's children waited for while P runs (past_children.h); one still there at
  // the commit point refuses the update (commit()). Not for --validate-only.
  if (!o_.validate_only) {
    const Clock::time_point t0 = Clock::now();
    wait_for_children(o_.pid, deadline_.left() / 2);
    children_waited_ = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
  }
  const DriveTo to = o_.precopy ? DriveTo::kQuiescentWait : DriveTo::kUpdatePoint;  // the snapshot's place
  const std::vector<StaticLock> locks = static_locks(inputs_->v1.program());  // while P still serves
  seize_past(to);
  wait_for_free_locks(to, locks);
}

// The locks of P's static storage held by a thread of P at this stop
// (past_locks.h). A lock whose recorded owner is no thread of P (ended holding
// it, or another process's) is never let go of: not waited for.
std::vector<HeldLock> Transaction::locks_held_by_threads(std::span<const StaticLock> locks) {
  std::vector<HeldLock> held = held_locks(o_.pid, past_bias_, locks);
  std::erase_if(held, [&](const HeldLock& l) {
    if (l.owner == 0) return false;  // a rwlock's readers, a mutex locked but its owner not yet recorded
    for (const inject::Task& t : past_->threads())
      if (t.tid() == l.owner) return false;
    return true;
  });
  return held;
}

// A thread of P holding a lock of its static storage at the stop would have the
// transfer refused once the agent met the lock (engine_locks.cc), after the
// whole forward transfer; P stopped all along. Instead P is released and stopped
// again, after growing pauses (5 ms to 100 ms) in which it serves, until its
// threads have let go: up to a quarter of the time left, 5 s at most. Past that
// the transfer goes on and the agent decides (a lock v2 drops or does not
// transfer refuses nothing). Each stop is brought to the same place as the first.
void Transaction::wait_for_free_locks(DriveTo to, std::span<const StaticLock> locks) {
  std::vector<HeldLock> held = locks_held_by_threads(locks);
  if (held.empty()) return;
  LockWait& w = rep_.lock_wait.emplace();
  w.first_held = describe(held.front());
  const Clock::time_point t0 = Clock::now();
  const milliseconds bound = std::min(deadline_.left() / 4, milliseconds(5000));
  milliseconds pause(5);
  while (!held.empty() && Clock::now() - t0 + pause < bound) {
    release_past();
    std::this_thread::sleep_for(pause);  // the program serves meanwhile
    pause = std::min(pause * 2, milliseconds(100));
    seize_past(to);
    ++w.stops;
    held = locks_held_by_threads(locks);
  }
  w.waited_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  w.still_held = held.empty() ? "" : describe(held.front());
  spdlog::info("quiescence: {} at the first stop; stopped again {} time(s) over {:.0f} ms: {}", w.first_held, w.stops,
               w.waited_ms, held.empty() ? "every lock free" : w.still_held + " still held, the transfer goes on");
}

// P seized (again, after a pre-copy round), judged by the quiescence rule and
// driven to its update point if busy (several threads: drive_past). A
// single-threaded P found running is first seized again where it waits
// (seize_again_when_waiting); with pre-copy, then driven to a wait (drive_to_wait).
void Transaction::seize_past(DriveTo to) {
  seizures_ = 0;
  quiesce::Verdict verdict = seize_and_judge();
  const auto stopped = [&](const char* how) { rep_.stops.push_back({how, seizures_}); };
  if (verdict.quiescent) return stopped("found_quiescent");
  if (past_->threads().size() == 1 && running_alone(verdict)) {
    if (seize_again_when_waiting(to, verdict)) return stopped("seized_again");
    if (to != DriveTo::kUpdatePoint && drive_to_wait(to)) return stopped("driven_to_wait");
  }
  stopped("driven_to_update_point");  // before: a refusal names the stop too
  drive_past(verdict);
}

// P seized, its stop begun, and judged by the quiescence rule.
quiesce::Verdict Transaction::seize_and_judge() {
  stop_.emplace(rep_.stall_ms);
  ++seizures_;
  try {
    past_.emplace(seize_pinned(inputs_->pin, std::max(deadline_.left(), milliseconds(100))));  // the pid still names P
  } catch (const std::exception& e) {
    refuse(Reason::kBadInput, "cannot trace pid " + std::to_string(o_.pid) + ": " + e.what(),
           "run ttst-supervise as root, and make sure no debugger is attached");
  }
  touched_ = true;
  deadline_.limit.watch_waits(o_.pid);  // P driven, forked from: its waits for a CPU are the load's
  const Executable& v1 = inputs_->v1;
  quiesce::Verdict verdict = quiesce::classify(*past_, v1.update_points());
  spdlog::debug("quiescence: {}", verdict.message);
  past_bias_ = v1.bias_in(o_.pid);
  past_runtime_.emplace(o_.pid, v1.runtime_block() + past_bias_);
  return verdict;
}

// A stop found a single-threaded P running, a request in progress. A server
// quicker than its clients spends most of its time blocked in its loop's wait, so
// rather than drive it, P is released and, each time /proc shows it in a system
// call — the snapshot's (kSnapshotWait), or any — seized again and judged: up to
// 24 times within a short bound, while it is found running. A drive runs P under
// PTRACE_SYSCALL, which makes each of its calls slow enough that a client's next
// request is always there before P reads again, so P never waits: memcached 1.2
// under back-to-back gets was driven for 1-5 s, seized throughout. False: P
// seized, not quiescent (`verdict`): driven as before.
bool Transaction::seize_again_when_waiting(DriveTo to, quiesce::Verdict& verdict) {
  if (to == DriveTo::kSnapshotWait && !snapshot_call_) return false;
  const Clock::time_point until = Clock::now() + std::min(milliseconds(200), deadline_.left() / 8);
  for (int tries = 0; tries < 24 && Clock::now() < until; ++tries) {
    release_past();  // never driven yet: nothing was written to P
    const auto left = std::max(std::chrono::duration_cast<std::chrono::microseconds>(until - Clock::now()),
                               std::chrono::microseconds(0));
    const bool waiting = to == DriveTo::kSnapshotWait ? sys::wait_blocked_at(o_.pid, o_.pid, *snapshot_call_, left)
                                                      : sys::wait_in_call(o_.pid, o_.pid, left).has_value();
    verdict = seize_and_judge();
    if (verdict.quiescent) {
      spdlog::debug("quiescence: the program seized again in a wait (try {})", tries + 1);
      return true;
    }
    if (!waiting || past_->threads().size() != 1 || !running_alone(verdict)) return false;
  }
  return false;
}

// Pre-copy found P running (mid-request, under load): rather than to its update
// point, P is run, nothing written to it (quiesce::drive_to_quiescent_wait /
// drive_to_call_entry), to the entry of a wait, which it makes once the request
// is served:
// - for the snapshot (kQuiescentWait), its loop's wait, so that the snapshot
//   stands where an idle P would and the second stop finds it again whether P is
//   then busy or idle (blocked there). A snapshot at the update point could be
//   matched only by a P found busy again: an idle P, never driven, waits elsewhere,
//   and the second stop then fell back;
// - at the second stop (kSnapshotWait), the wait the snapshot found it in: its
//   update point would be another frame than the snapshot's, which stage 2 cannot
//   follow. None when the snapshot's P was at its update point: the drive goes there.
// Not reached within a short bound: false, and P is driven to its update point.
bool Transaction::drive_to_wait(DriveTo to) {
  if (to == DriveTo::kSnapshotWait && !snapshot_call_) return false;
  const milliseconds bound = std::min(deadline_.left(), milliseconds(50));
  std::string where;
  const bool there =
      to == DriveTo::kSnapshotWait
          ? quiesce::drive_to_call_entry(*past_, {snapshot_call_->nr, snapshot_call_->sp, snapshot_call_->pc}, bound,
                                         where)
          : quiesce::drive_to_quiescent_wait(*past_, inputs_->v1.update_points(), bound, where);
  if (!there) spdlog::debug("pre-copy: the program did not enter the wait within {} ms ({})", bound.count(), where);
  return there;
}

// The stop protocol (ttst_abi.h §4): one thread, or every busy thread of several
// while the others stay put (quiesce/drive_threads.h).
void Transaction::drive_past(const quiesce::Verdict& verdict) {
  const milliseconds bound = std::min(deadline_.left(), std::max(milliseconds(100), o_.limits.wall / 5));
  std::string where;
  driven_ = true;  // from the first write of update_requested on
  if (past_->threads().size() > 1) {
    const quiesce::DriveOutcome d = quiesce::drive_threads(*past_, verdict, inputs_->v1.update_points(),
                                                           *past_runtime_, bound);
    if (d.reached) return;
    driven_ = false;  // the flag is written back to 0 already
    refuse(Reason::kNotQuiescent, "the program's threads did not all reach an update point: " + d.message,
           "try again when the program is idle, or raise --timeout");
  }
  if (!quiesce::drive_to_update_point(*past_, *past_runtime_, bound, where)) {
    driven_ = false;  // the flag is written back to 0 already
    refuse(Reason::kNotQuiescent,
           "the program did not reach an update point within " + std::to_string(bound.count()) + " ms (" + where + ")",
           "try again when the program is idle, or raise --timeout");
  }
}

// Issue 19: F's threads each at its update point (else rolled back naming them),
// then paired with P's (thread_pairs.h); a thread of P that v2 drops refuses.
void Transaction::pair_threads_of_both() {
  const std::string left = future_threads_->stragglers(inputs_->v2.update_points());
  if (!left.empty())
    rollback(Reason::kNoUpdatePoint, "threads of the new version did not reach an update point during its start-up: " + left,
             "check that every thread v2 starts reaches the TTST_UPDATE_POINT() of its loop (or a blocking call "
             "written there), or raise --timeout; the old version keeps serving");
  if (!past_) {  // the pre-copy round (P single-threaded, serving): pairing reads P's threads
    if (future_threads_->threads().empty()) return;
    rollback(Reason::kBadInput, "pre-copy: the new version starts threads, which are paired with the old version's "
             "while it is stopped; not supported during the pre-copy round yet",
             "update without --precopy; the old version keeps serving");
  }
  if (past_->threads().size() == 1 && future_threads_->threads().empty()) return;
  std::deque<inject::Task*> p, f{&future_->task()};
  for (inject::Task& t : past_->threads()) p.push_back(&t);
  for (inject::Task& t : future_threads_->threads())
    if (t.attached()) f.push_back(&t);
  const quiesce::Verdict pv = quiesce::classify(o_.pid, p, inputs_->v1.update_points());
  const quiesce::Verdict fv = quiesce::classify(future_->pid(), f, inputs_->v2.update_points());
  thread_pairs_ = pair_threads(describe_threads(o_.pid, p, pv), describe_threads(future_->pid(), f, fv));
  for (const auto& [i, j] : thread_pairs_->pairs)
    spdlog::debug("threads: {} paired with {}", thread_name(thread_pairs_->past[i]), thread_name(thread_pairs_->future[j]));
  std::string dropped;
  for (size_t i : thread_pairs_->dropped) dropped += (dropped.empty() ? "" : "; ") + thread_name(thread_pairs_->past[i]);
  if (!dropped.empty())
    refuse(Reason::kBadInput,
           "threads: the new version starts no counterpart (same start function, same creation order) for " +
               dropped + ": its thread-local state and what its stack holds would be lost",
           "make v2 start the same threads (a thread v2 adds is fine), or update when that thread has ended");
}

// Every thread of P but its main one (doom() aims that one) aimed at exit_group,
// their registers kept while a grace period may resume P.
void Transaction::doom_past_threads() {
  for (inject::Task& t : past_->threads()) {
    if (t.tid() == o_.pid) continue;
    if (o_.grace.count() > 0) undoomed_others_.emplace_back(t.tid(), t.get_regs());
    doom(t);
  }
}

void Transaction::undoom_past_threads() {
  for (const auto& [tid, regs] : undoomed_others_)
    for (inject::Task& t : past_->threads())
      if (t.tid() == tid) {
        try {
          t.set_regs(regs);
        } catch (const std::exception& e) {
          spdlog::error("could not put back the registers of thread {} of pid {}: {}", tid, o_.pid, e.what());
        }
      }
  undoomed_others_.clear();
}

// create: F, v2 exec'd from a fork of P with P's argv, environment and descriptors.
void Transaction::create() {
  begin("create");
  inject::FutureSpec spec;
  spec.exe = inputs_->v2.path();
  try {
    future_.emplace(
        inject::create_future(source_task(), spec, deadline_.step(milliseconds(100), milliseconds(2000)),
                              source_options()));
    future_pid_ = future_->pid();
    deadline_.limit.watch_agent(future_pid_);  // its start-up and the forward transfer: the CPU budget
  } catch (const inject::ExecFailed& e) {  // v2's fault: it cannot be started here
    rollback(Reason::kStartupCrash,
             "the new version could not be started: " + std::string(e.what()) +
                 (e.error() == ENOENT ? " (v2, its program interpreter or a library it needs is missing)" : ""),
             "run v2 by hand on this machine to see why it does not start; the old version keeps serving");
  }
}

// startup: F run to its first update point (future_startup.h).
void Transaction::startup() {
  begin("startup");
  adoption_.emplace(future_->pid(), rep_.startup_actions);
  files_.emplace(future_->pid(), o_.pid, rep_.startup_actions);
  future_threads_.emplace(future_->pid(), &inputs_->v2.update_points());
  // v2's start-up is waited for as long as the cap leaves (its CPU and its waits are
  // checked as the forward phase begins): a busy machine does not end it early.
  run_future_to_update_point(*future_, inputs_->v2, StartupBudget{deadline_.limit.cap_left(), o_.limits.cap},
                             rep_.startup_stderr,
                             *adoption_, *files_, &*future_threads_);
  future_bias_ = inputs_->v2.bias_in(future_->pid());
  future_runtime_.emplace(future_->pid(), inputs_->v2.runtime_block() + future_bias_);
  pair_threads_of_both();
}

// forward: the agent in F transfers P's state into F (agent_transfer.h).
void Transaction::forward() {
  begin("forward");
  TransferRequest t;
  t.thread = &future_->task();
  t.process = "future";
  t.peer = source_pid();
  t.peer_thread_pointer = source_regs().fs_base;
  t.self = {inputs_->v2.metadata_image(), future_bias_, future_runtime_->address()};
  t.other = {inputs_->v1.metadata_image(), past_bias_, past_runtime_->address()};
  t.limit = &deadline_.limit;
  t.plugin = plugin_;
  // The roots on the stack: P's frames and F's own at their update points.
  t.frames = frames_input({source_pid(), source_regs()}, {future_->pid(), future_->task().get_regs()});
  // The other threads' thread-local blocks (thread_pairs.h); with none, the empty
  // list still gives the agent the main threads' descriptors (pthread_getspecific values).
  const std::vector<uint8_t> more = threads_input(thread_pairs_ ? *thread_pairs_ : ThreadPairing{}, false, o_.pid,
                                                  future_->pid());
  t.frames.insert(t.frames.end(), more.begin(), more.end());
  for (inject::Task& other : future_threads_->threads())
    if (other.attached()) t.other_threads.push_back(&other);  // their registers and stacks settled too
  if (snapshot_) t.keep = &kept_forward_;  // pre-copy's round: kept for a second run on what P writes meanwhile
  rep_.transfers.push_back(run_transfer(t, o_.test_hooks));
  rep_.past_library_fds = rep_.transfers.back().past_library_fds;  // closed in F at the commit
}

// backward: R forked from P, the agent in R transfers F's state back into R.
void Transaction::backward() {
  begin("backward");
  // R is forked only now: the forward transfer's reads of P (process_vm_readv pins
  // pages, and the kernel unshares a copy-on-write page it pins) would otherwise
  // have split every page P shared with R. Forked after them, R shares P's pages
  // until the backward transfer writes one, and the differ's page-level fast path
  // finds the untouched ones equal. P has stayed stopped and untouched since it was
  // seized, so R is the same clone either way.
  reversed_.emplace(inject::create_reversed(source_task(), deadline_.step(milliseconds(100), milliseconds(2000)),
                                            source_options()));
  deadline_.limit.watch_agent(reversed_->pid());
  TransferRequest t;
  t.backward = true;
  t.thread = &reversed_->task();
  t.process = "reversed";
  t.peer = future_->pid();
  t.peer_thread_pointer = future_->task().get_regs().fs_base;
  t.self = {inputs_->v1.metadata_image(), past_bias_, past_runtime_->address()};
  t.other = {inputs_->v2.metadata_image(), future_bias_, future_runtime_->address()};
  t.limit = &deadline_.limit;
  t.plugin = plugin_;
  // F's frames after the forward transfer (its locals point at the transferred
  // objects) and R's, which are P's: P's registers over R's equal memory.
  t.frames = frames_input({future_->pid(), future_->task().get_regs()}, {source_pid(), source_regs()});
  if (thread_pairs_) {  // the other threads' thread-local blocks, back into R's copies of P's
    const std::vector<uint8_t> more = threads_input(*thread_pairs_, true, o_.pid, future_->pid());
    t.frames.insert(t.frames.end(), more.begin(), more.end());
  }
  if (snapshot_) t.keep = &kept_backward_;
  if (kept_forward_)  // F's agent region, kept for the second run: no state of F, not copied
    t.peer_skip = {kept_forward_->region.start, kept_forward_->region.start + kept_forward_->region.layout.total};
  rep_.transfers.push_back(run_transfer(t, o_.test_hooks));
}

// diff: P against R, each thread's kernel-written rseq fields ignored (the agent's
// region is already unmapped by run_agent, or kept for a second run and left out).
void Transaction::diff() {
  begin("diff");
  diff::Options options;
  options.kernel_fields = snapshot_ ? snapshot_rseq_ : rseq_fields();
  if (kept_backward_)  // pre-copy's round: R's agent region kept for a second run is no state of R
    options.agent_regions = mappings_within(reversed_->pid(), kept_backward_->region.start,
                                            kept_backward_->region.start + kept_backward_->region.layout.total);
  diff::Result res = diff::diff_processes(source_pid(), reversed_->pid(), options);
  if (res.equal()) return;
  name_differences(res);
  rollback(Reason::kStateDiff,
           std::to_string(rep_.differences_total) + (rep_.differences_total == 1 ? " difference" : " differences") +
               " between the old state and its round trip through v2",
           "the transfer loses or changes state: see the differences in the report");
}

// The kernel-written rseq fields of each of P's threads (diff.h), P seized.
std::vector<diff::IgnoredRange> Transaction::rseq_fields() {
  std::vector<diff::IgnoredRange> out;
  for (auto& t : past_->threads())
    if (auto area = t.rseq_area())
      for (auto& f : diff::rseq_kernel_fields(area->first, "thread " + std::to_string(t.tid()))) out.push_back(f);
  return out;
}

// Pre-copy (README "Pre-copy"): at P's first stop S and K are forked and P is
// released; F's start-up, the forward transfer from S, R forked from S, the
// backward transfer and the diff S vs R run while P serves. A failure there ends
// the attempt as rolled back with P never stopped again. Then P is stopped again
// and compared with K (precopy_delta.h): unchanged, F already holds P's state,
// validated, and the commit follows; changed, the round is discarded and the
// caller runs the transfer in the stop as without pre-copy.
bool Transaction::precopy() {
  rep_.precopy.emplace();
  std::string why = precopy_obstacle(o_.pid);
  // Threads: the pairing and their thread-local blocks are read from P itself
  // (thread_pairs.h), which serves during the round: not with pre-copy yet.
  if (why.empty() && past_->threads().size() > 1) why = "the program has several threads";
  if (!why.empty()) {
    rep_.precopy->verdict = "not_used";
    rep_.precopy->detail = why + ": the transfer runs with the program stopped";
    return false;
  }
  snapshot();
  create();
  startup();
  forward();
  if (!o_.forward_only) {
    backward();
    diff();
  }
  for (;;) {
    if (second_runs_kept()) fork_future_key(deadline_.step(milliseconds(100), milliseconds(2000)));
    if (snapshot_call_) wait_where_snapshot_was(milliseconds(50));
    begin("stop");
    seize_past(DriveTo::kSnapshotWait);
    stop_where_snapshot_was();
    if (!another_round()) return delta_unchanged();
    if (!delta_round()) {  // its transfers discarded: the transfer in the stop, as after a changed delta
      begin("stop");
      seize_past(DriveTo::kSnapshotWait);
      stop_where_snapshot_was();
      return false;
    }
  }
}

namespace {
// Minor page faults of `pid` so far (/proc/PID/stat field 10); 0 if unreadable.
uint64_t minor_faults(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string line((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<std::string> f = stat_fields(line);
  return f.size() > 7 ? std::strtoull(f[7].c_str(), nullptr, 10) : 0;
}

}  // namespace

// At a stop after a round, before the delta: is a round on the delta worth its
// short stop (round_policy.h: P wrote many pages since the snapshot, and the round
// just run was shorter than the one before it), and can stage 2 follow it
// (registers but locals, descriptors, signal state as at the snapshot)? What the final stop then transfers again is
// only what P wrote during the last, shorter round. The testing binary's
// round_faults forces rounds: whenever P wrote that many pages, three at most.
bool Transaction::another_round() {
  if (!kept_forward_ || !kept_backward_) return false;
  RoundPolicy policy;
  if (o_.test_hooks && o_.test_hooks->round_faults) policy = {*o_.test_hooks->round_faults, 3, false};
  const uint64_t faults = minor_faults(o_.pid);
  if (faults < snapshot_faults_) return false;  // unreadable now
  const milliseconds last = std::chrono::duration_cast<milliseconds>(Clock::now() - snapshot_at_), before = round_took_;
  round_took_ = last;
  if (!worth_another_round(policy, delta_rounds_, faults - snapshot_faults_, last, before)) return false;
  const user_regs_struct regs = past_->main_thread().get_regs();
  return facts_changed(*snapshot_facts_, read_past_facts(o_.pid, regs), true).empty();
}

// A round on the delta (README "Pre-copy"): K2 forked from P at this stop and P
// released; what P changed between K and K2 (the differ, while P serves) is
// transferred again from K2 by the second runs, their regions kept for the next,
// and validated by K2 against R. K2 is both the round's source and the next stop's
// key: it is only ever read through /proc/PID/mem (the agent, the differ), which
// leaves its page frames P's, and never runs. The next stop compares P with K2, from
// this stop's facts. False: the round's F and R discarded (the caller stops P and
// transfers in the stop).
bool Transaction::delta_round() {
  begin("round_snapshot");
  Precopy& pc = *rep_.precopy;
  const user_regs_struct regs = past_->main_thread().get_regs();
  PastFacts now = read_past_facts(o_.pid, regs);
  const milliseconds budget = deadline_.step(milliseconds(100), milliseconds(2000));
  std::optional<inject::ChildProcess> key;
  key.emplace(inject::create_reversed(past_->main_thread(), budget));
  snapshot_faults_ = minor_faults(o_.pid), snapshot_at_ = Clock::now();
  release_past();  // P serves during the round
  pc.rounds = ++delta_rounds_;
  pc.round_stops_ms.push_back(stop_->elapsed_ms());  // as the first stop's is read
  std::string why;
  bool done = false;
  try {
    begin("round_delta");
    const MemoryDelta d = memory_changed(key->pid(), key_->pid(), regs, past_runtime_->address().value(),
                                         snapshot_rseq_, diff::PageReads::kPlain);
    if (d.layout) why = d.changed;
    else done = d.changed.empty() || delta_transfer(d, regs, key->pid(), true, &why);
  } catch (const std::exception& e) {
    why = e.what();
  }
  end_later(snapshot_), end_later(key_);  // the round's S (after the first round) and K
  key_.emplace(std::move(*key));
  key.reset();
  if (done) {
    snapshot_facts_ = std::move(now);
    return true;
  }
  pc.verdict = "changed";
  pc.detail = "a round on the delta did not complete (" + why + "): the transfer ran again with the program stopped";
  end_later(key_);
  discard_round();
  return false;
}

// P serving, untraced: up to `bound`, until /proc shows its main thread blocked in
// the call the snapshot found it in, at the same stack pointer and pc (between two
// requests, for a server) — then it is seized there, on the snapshot's frame, not
// at a random point of a request (which the retries below would have to undo). No
// such call (snapshot_call_): the bound passes.
void Transaction::wait_where_snapshot_was(milliseconds bound) {
  if (snapshot_call_) {
    sys::wait_blocked_at(o_.pid, o_.pid, *snapshot_call_, bound);
    return;
  }
  const timespec pause{0, static_cast<long>(bound.count()) * 1000L * 1000L};
  nanosleep(&pause, nullptr);
}

// The second stop found P elsewhere than at the snapshot (its registers differ:
// another update point or frame, e.g. driven to one mid-request under load when
// the snapshot's wait was not reached within drive_to_wait's bound), where
// its state cannot be S's: P is released and seized again, after a pause of 1, 2,
// 4 ms... that lets it serve and reach its idle point (ended early when /proc shows
// it blocked where the snapshot was), up to 24 times within a short bound. Each try is
// a stop of its own (seize, classify, registers), far shorter than a transfer in
// the stop; the delta then decides as always. P is released
// exactly as at the snapshot (the flag cleared if it was driven).
void Transaction::stop_where_snapshot_was() {
  const Clock::time_point until = Clock::now() + std::min(milliseconds(400), deadline_.left() / 4);
  PastFacts then;
  then.regs = snapshot_regs_;
  // A busy server blocks where it idles for microseconds between requests: the
  // seize that follows the wait often finds it running again, so the tries are many
  // and their pauses short.
  for (int tries = 0, pause_ms = 1; tries < 24 && Clock::now() < until; ++tries, pause_ms = std::min(pause_ms * 2, 8)) {
    PastFacts now;
    now.regs = past_->main_thread().get_regs();
    // Registers only (no descriptors read), those stage 2 follows aside: P at the
    // snapshot's pc and stack pointer, its locals in registers as they may be.
    const std::string moved = facts_changed(then, now, true);
    if (moved.empty()) return;
    spdlog::debug("pre-copy: {} since the snapshot; the program released and stopped again", moved);
    Precopy& pc = *rep_.precopy;
    if (pc.stops_retried.size() < 8) pc.stops_retried.push_back(moved);
    pc.stops_retried_total++;
    release_past();
    wait_where_snapshot_was(milliseconds(pause_ms));  // the program serves meanwhile
    begin("stop");
    seize_past(DriveTo::kSnapshotWait);
  }
}

// P released to serve (pre-copy: the snapshot taken, or a stop retried): the flag
// cleared first if it was driven, as a rollback does; its stop ends.
void Transaction::release_past() {
  if (driven_) {  // as a rollback does: P's next update point would clear it too
    past_runtime_->set_update_requested(0);
    driven_ = false;
  }
  past_->release();
  past_.reset();
  served_again();
}

// snapshot: S and K forked from P (like R: exit signal 0, EXITKILL, invisible to
// P and its wait()), P's kernel-side facts read, then P released to serve.
void Transaction::snapshot() {
  begin("snapshot");
  rep_.precopy->verdict = "ended_in_round";
  rep_.precopy->detail = "the attempt ended during the pre-copy round, while the program served";
  snapshot_regs_ = past_->main_thread().get_regs();
  if (!driven_ && static_cast<long>(snapshot_regs_.orig_rax) >= 0) snapshot_call_ = blocked_where(snapshot_regs_);
  snapshot_rseq_ = rseq_fields();
  const milliseconds budget = deadline_.step(milliseconds(100), milliseconds(2000));
  snapshot_.emplace(inject::create_reversed(past_->main_thread(), budget));
  key_.emplace(inject::create_reversed(past_->main_thread(), budget));
  snapshot_facts_ = read_past_facts(o_.pid, snapshot_regs_);
  snapshot_faults_ = minor_faults(o_.pid), snapshot_at_ = Clock::now();
  release_past();  // P serves during the round
  rep_.precopy->first_stop_ms = stop_->elapsed_ms();
}

// delta: P, stopped again, against the snapshot; S and K ended either way.
bool Transaction::delta_unchanged() {
  begin("delta");
  Precopy& pc = *rep_.precopy;
  const user_regs_struct regs = past_->main_thread().get_regs();
  const PastFacts now = read_past_facts(o_.pid, regs);
  std::string changed = facts_changed(*snapshot_facts_, now);
  const bool followed = facts_changed(*snapshot_facts_, now, true).empty();  // by stage 2, should memory differ
  // Memory is compared either way (by frame, then the pages P wrote): the delta's
  // size is what a re-transfer of only the delta would start from (README "Pre-copy").
  const MemoryDelta d = memory_changed(o_.pid, key_->pid(), regs, past_runtime_->address().value(), rseq_fields());
  pc.pages_total = d.stats.pages_total;
  pc.pages_same_frame = d.stats.pages_same_frame;
  pc.pages_read = d.stats.pages_read;
  pc.bytes_changed = d.bytes;
  pc.ranges_changed = d.ranges;
  if (changed.empty()) changed = d.changed;
  pc.second_stop_ms = stop_->elapsed_ms();  // up to the verdict; the stop goes on to the commit
  // S and K are sent SIGKILL now and waited for when the transaction ends, not
  // while P is stopped (their memory is torn down meanwhile); S is no longer the
  // source of anything.
  end_later(snapshot_);
  end_later(key_);
  if (changed.empty()) {
    end_later(future_key_);  // no second run
    pc.verdict = "unchanged";
    pc.detail = "";
    cure_kept_future();
    return true;
  }
  // Stage 2: only bytes of memory changed, in place (same registers, descriptors,
  // mappings), and the round's transfers were kept: they run again on what changed.
  std::string why_not = "the round's transfers were not kept for a second run";
  bool transferred = false;
  if (followed && !d.layout && second_runs_kept()) {
    try {
      transferred = delta_transfer(d, regs, o_.pid, false, &why_not);
    } catch (const std::exception& e) {  // a fork, a remote call, a read failed: the fallback is whole
      why_not = e.what();
    }
  }
  if (transferred) {
    pc.verdict = "delta";
    pc.detail = changed + ": transferred again from what changed";
    return true;
  }
  pc.verdict = "changed";
  pc.detail = changed + (followed && !d.layout ? " (not transferred again from what changed: " + why_not + ")" : "") +
              ": the transfer ran again with the program stopped";
  discard_round();
  return false;
}

// F_key for F's next second run: forked from F (less F's agent region, which
// nothing compares: its writes then fault no copy-on-write), never run; the pages
// F's run writes are found against it (pages_written). One already forked since F
// last ran is kept.
void Transaction::fork_future_key(milliseconds budget) {
  if (future_key_) return;
  const inject::AgentRegion& region = kept_forward_->region;
  {
    inject::RemoteSyscalls rs(future_->task(), budget);
    rs.call_checked("madvise(MADV_DONTFORK)", SYS_madvise, {region.start, region.layout.total, MADV_DONTFORK});
    rs.restore();
  }
  future_key_.emplace(inject::create_reversed(future_->task(), budget, inject::options_child()));
}

// Stage 2 (README "Pre-copy"): P's memory changed in place since the snapshot, and
// the round's transfers run again on it. F_key (fork_future_key, forked when F's
// last run ended) never runs: the pages F's second run writes are found against
// it. The forward second
// run in F reads P's changed pages; the round's R (R = S, validated by the round's
// diff, and of no further use should this fail) gets P's changed pages copied in
// (so R = P wherever the round validated nothing new); the backward second run in
// R writes back from F every object on the pages F's run wrote and every
// counterpart on P's changed pages (a change F's run missed then shows); then P
// against R, all of it, by frames. Anything that stops it: false with the reason,
// and the caller transfers everything again (the round's F and R ended).
bool Transaction::delta_transfer(const MemoryDelta& d, const user_regs_struct& regs, pid_t source, bool keep,
                                 std::string* why_not) {
  Precopy& pc = *rep_.precopy;
  const milliseconds budget = deadline_.step(milliseconds(100), milliseconds(2000));
  begin(keep ? "forward_round" : "forward_delta");
  const std::vector<diff::IgnoredRange> rseq = snapshot_rseq_;  // where the kernel writes: P's, K2's, R's alike
  auto since = std::chrono::steady_clock::now();
  const auto step = [&](const char* name) {  // report's precopy.steps_ms
    const auto now = std::chrono::steady_clock::now();
    pc.steps_ms.emplace_back(name, std::chrono::duration<double, std::milli>(now - since).count());
    since = now;
  };
  fork_future_key(budget);  // none if forked when F's last run ended
  step("future_key_fork");
  DeltaTransferRequest f;
  f.thread = &future_->task();
  f.process = "future";
  f.peer = source;
  f.kept = &*kept_forward_;
  f.self = {inputs_->v2.metadata_image(), future_bias_, future_runtime_->address()};
  f.other = {inputs_->v1.metadata_image(), past_bias_, past_runtime_->address()};
  f.plugin = plugin_;
  f.changed = d.spans;
  f.changed_bytes = d.span_bytes;  // as the delta's comparison read them: the agent reads none of P
  f.frames = frames_input({source, regs}, {future_->pid(), future_->task().get_regs()});
  f.limit = &deadline_.limit;
  f.keep = keep;
  if (!grow_reversed_heap(d.heap_end, budget)) {
    end_later(future_key_);
    return *why_not = "the copy of the old version's heap could not grow as the old version's did", false;
  }
  // R idles while F's second run works: P's changed bytes are written into it
  // meanwhile, by a thread of ours (they come from the delta and P, never from F).
  BackgroundCall reversed_written([&] { write_changed(reversed_->pid(), d); });
  DeltaTransferOutcome forward = run_delta_transfer(f, o_.test_hooks);  // F's region removed unless kept again
  kept_forward_ = forward.kept;
  step("forward_run");
  if (!forward.done) {
    end_later(future_key_);
    return *why_not = forward.why_not, false;
  }
  begin(keep ? "backward_round" : "backward_delta");
  std::string layout;
  const std::vector<sys::Mapping> kept_in_future =  // kept again for the next round: no state of F
      kept_forward_ ? mappings_within(future_->pid(), kept_forward_->region.start,
                                      kept_forward_->region.start + kept_forward_->region.layout.total)
                    : std::vector<sys::Mapping>{};
  const std::optional<ChangedSpans> written = pages_written(future_->pid(), future_key_->pid(), kept_in_future, &layout);
  end_later(future_key_);
  step("future_written");
  if (!written) return *why_not = "the forward second run changed the new version's memory layout (" + layout + ")", false;
  reversed_written.join();
  step("reversed_written");  // what the copy into R took beyond F's run
  DeltaTransferRequest b;
  b.backward = true;
  b.thread = &reversed_->task();
  b.process = "reversed";
  b.peer = future_->pid();
  b.kept = &*kept_backward_;
  b.self = {inputs_->v1.metadata_image(), past_bias_, past_runtime_->address()};
  b.other = {inputs_->v2.metadata_image(), future_bias_, future_runtime_->address()};
  b.plugin = plugin_;
  b.changed = written->spans;
  b.changed_bytes = written->bytes;
  b.own = d.spans;
  b.frames = frames_input({future_->pid(), future_->task().get_regs()}, {source, regs});
  b.limit = &deadline_.limit;
  b.keep = keep;
  DeltaTransferOutcome backward = run_delta_transfer(b, o_.test_hooks);
  kept_backward_ = backward.kept;
  step("backward_run");
  if (!backward.done) return *why_not = backward.why_not, false;
  begin(keep ? "diff_round" : "diff_delta");
  diff::Options options = past_diff_options(source, regs, past_runtime_->address().value(), rseq);
  // A round's K2 is the next key: read plainly, its frames stay P's (PageReads).
  if (keep) options.p_reads = diff::PageReads::kPlain;
  if (kept_backward_)  // kept again for the next round: no state of R
    options.agent_regions = mappings_within(reversed_->pid(), kept_backward_->region.start,
                                            kept_backward_->region.start + kept_backward_->region.layout.total);
  const diff::Result res = diff::diff_processes(source, reversed_->pid(), options);
  step("diff");
  pc.pages_delta = page_count(d.spans), pc.future_pages_delta = page_count(written->spans);
  if (!res.equal()) {
    *why_not = std::to_string(res.bytes.size() + res.more_byte_diffs + res.mappings.size()) +
               " differences between the old state and its round trip through the second runs (the first " +
               (res.mappings.empty() ? fmt::format("at {:#x}, ", res.bytes.front().addr) + std::to_string(res.bytes.front().len) +
                                           " bytes"
                                     : res.mappings.front().describe()) +
               "; " + std::to_string(pc.pages_delta) + " pages of the old version transferred again)";
    return false;
  }
  rep_.transfers.push_back(*forward.done);
  rep_.transfers.push_back(*backward.done);
  return true;
}

// P's brk heap grew since the snapshot (to `heap_end`; 0: it did not): R's grown
// the same way (a remote brk) before P's changed bytes are written into it.
bool Transaction::grow_reversed_heap(uint64_t heap_end, milliseconds budget) {
  if (!heap_end) return true;
  inject::RemoteSyscalls rs(reversed_->task(), budget);
  const int64_t now = rs.call(SYS_brk, {heap_end}).ret;
  rs.restore();
  return static_cast<uint64_t>(now) == heap_end;
}

// The round's forward transfer kept its agent region in F for a second run that did
// not come: removed before F serves.
void Transaction::cure_kept_future() {
  if (!kept_forward_) return;
  inject::cure_region(future_->task(), kept_forward_->region);
  kept_forward_.reset();
}

// The pre-copy round's F and R ended and its report entries dropped: the transfer
// in the stop starts afresh from P (as rollback_created ends them).
void Transaction::discard_round() {
  kept_forward_.reset(), kept_backward_.reset();  // their regions go with F and R
  end_later(future_key_);
  end_later(future_);  // at its update point (no threads of its own in the round)
  end_later(reversed_);
  adoption_.reset();
  files_.reset();
  future_runtime_.reset();
  future_pid_ = 0;
  rep_.transfers.clear();
  rep_.startup_actions.clear();
  rep_.startup_stderr.clear();
  rep_.past_library_fds.clear();
}

// The report's differences, named through v1's DWARF; naming never changes the verdict.
void Transaction::name_differences(const diff::Result& res) {
  try {
    rep_.differences = name_for_report(res, inputs_->v1.program(), past_bias_, past_runtime_->address(), source_pid(),
                                       reversed_->pid(), 100, rep_.differences_total);
  } catch (const std::exception& e) {
    spdlog::warn("naming the differences failed: {}", e.what());
    rep_.differences_total = res.bytes.size() + res.more_byte_diffs + res.mappings.size();
  }
}

// Everything checked: within the budget, and not --validate-only.
void Transaction::validate() {
  record_time_limit();  // F and R at their end, before F serves
  // P, R and F all alive at their largest. Only when asked for (--verbose): each
  // smaps_rollup walks a page table, 13-17 ms for 800 MiB, and P is stopped.
  if (spdlog::should_log(spdlog::level::debug))
    spdlog::debug("memory (PSS): P {} KiB, R {} KiB, F {} KiB", pss_kib(o_.pid),
                  reversed_ ? pss_kib(reversed_->pid()) : 0, pss_kib(future_->pid()));
  if (const auto [bound, what] = deadline_.limit.exceeded(); bound != Bound::kNone)
    rollback(Reason::kTimeout, "the update took too long: " + what,
             o_.limits.hard() ? "raise --timeout"
                              : "if the machine is only slow, set --timeout (a hard wall bound); the old version keeps "
                                "serving");
  if (o_.validate_only) {
    std::string m = "validation passed: the update would commit (rolled back as --validate-only asks)" +
                    unvalidated_note(rep_.transfers) + threads_note(thread_pairs_);
    if (auto left = children_of(o_.pid); !left.empty())  // past_children.h
      m += "; the program has a child process now (pid " + std::to_string(left.front().pid) + ", " +
           left.front().command + "): an update waits for it to end and is refused if it does not";
    rollback(Reason::kValidateOnly, m, "run again without --validate-only to update");
  }
}

void Transaction::record_time_limit() {
  const TimeLimits& l = o_.limits;
  if (l.hard()) return;
  const Spent s = deadline_.limit.spent();
  rep_.cpu_budget_ms = static_cast<double>(l.cpu.count());
  rep_.agents_cpu_ms = static_cast<double>(s.cpu.count());
  rep_.cpu_wait_ms = static_cast<double>(s.cpu_wait.count());
}

// TEST ONLY (test_hooks.h): the supervisor killed at a named commit step.
void Transaction::commit_step(const char* name) const {
  if (o_.test_hooks && o_.test_hooks->die_at == name) ::kill(::getpid(), SIGKILL);
  if (o_.test_hooks && o_.test_hooks->pauses_at(name)) ::raise(SIGSTOP);
}

// commit: F serves, P and R end, in an order that leaves exactly one version
// serving if this process is killed between any two steps (ttst_abi.h §5). With
// a grace period, F serves under watch first and P's final steps come after it.
void Transaction::commit() {
  begin("commit");
  // A child of P that F could never wait for (past_children.h): refused, and the
  // rollback leaves it, its zombie and its SIGCHLD to P.
  if (auto left = children_of(o_.pid); !left.empty())
    refuse(Reason::kChildProcess, children_refusal(o_.pid, left, children_waited_),
           "try again when its background job (a save, a worker) has ended, or raise --timeout to wait longer");
  const pid_t fpid = future_->pid();
  CommitNotes notes;
  future_runtime_->set_past_pid(o_.pid);
  commit_step("commit.past_pid");
  future_->task().set_options(inject::options_child() & ~unsigned{PTRACE_O_EXITKILL});
  future_threads_->set_options(inject::options_child() & ~unsigned{PTRACE_O_EXITKILL});
  commit_step("commit.unleashed");
  if (o_.grace.count() > 0) undoomed_ = past_->main_thread().get_regs();
  doom_past_threads();  // every thread of P, so that none runs an instant beside F
  doom(past_->main_thread());
  commit_step("commit.past_doomed");
  end_later(reversed_);  // the diff is done: R's teardown is not P's stop
  if (o_.grace.count() > 0) {
    commit_with_grace(notes);
  } else {
    // What P printed but had not written yet goes out before F runs (stdio_flush.h).
    notes.flushed = flush_past_stdio(o_.pid, past_->main_thread(), milliseconds(200));
    // The service manager follows F as the main process (service_notify.h).
    notes.notified = notify_main_pid(o_.pid, past_->main_thread(), fpid, milliseconds(500));
    // v2's start-up calls held back on P's listening sockets, made now that P never
    // runs again and before F does (startup_adoption.h).
    adoption_->apply_at_commit();
    // Its file actions deferred to now, and P's descriptors it has no use for closed (startup_files.h).
    files_->apply_at_commit(future_->task(), rep_.past_library_fds);
    commit_step("commit.flushed");
    future_runtime_->set_flags(0, 0);
    future_threads_->release();  // F's threads at their markers go on (flags cleared first)
    future_->release();
    served_again();
    future_.reset();
    commit_step("commit.released");
  }
  // Signals sent to P during the update, pending while it was stopped, go to F
  // (pending_signals.h); then P dies while still stopped: released, it would run
  // its exit_group anyway.
  rep_.pending_signals = pass_pending_signals(o_.pid, fpid);
  notes.signals = &rep_.pending_signals;
  PastEnd past_end(o_.pid);  // past_end.h: P gone (reaped, or said) before "committed"
  ::kill(o_.pid, SIGKILL);
  reap_killed_threads(*past_, milliseconds(2000));  // its other threads' ends, ours to wait for
  past_->release();
  notes.past_state = past_end.wait(milliseconds(2000), milliseconds(100));
  if (!o_.pidfile.empty()) {
    try {
      sys::write_file_atomically(o_.pidfile, std::to_string(fpid) + "\n");
    } catch (const std::exception& e) {  // committed all the same: F serves
      notes.pidfile_problem = e.what();
    }
  }
  phases_.end();
  rep_.outcome = Outcome::kCommitted;
  rep_.reason = Reason::kNone;
  rep_.new_pid = fpid;
  rep_.message = commit_message(o_.pid, inputs_->v2.path(), fpid, notes) + unvalidated_note(rep_.transfers) +
                 threads_note(thread_pairs_);
  rep_.advice = "nothing to do";
}

// The grace period (grace_period.h): F runs on P's descriptions while P stays
// stopped and doomed in its registers only; F crashing or hanging resumes P.
// Kept, F is released and only then are P's final steps taken.
void Transaction::commit_with_grace(CommitNotes& notes) {
  shared_.emplace(SharedDescriptions::record(o_.pid));  // before the held-back calls change P's listeners
  shared_->record_listener_settings(future_pid_, rep_.startup_actions);
  adoption_->apply_at_commit();  // F serves on them from now on (startup_adoption.h)
  // v2's deferred file actions made and P's descriptors it has no use for closed in F
  // (startup_files.h): F serves with its files from now on; not undone by a rollback
  // in the period (supervisor/README.md, "Grace period").
  files_->apply_at_commit(future_->task(), rep_.past_library_fds);
  future_runtime_->set_flags(0, 0);
  commit_step("commit.released");  // F's other threads stay at their markers: the period watches them all
  phases_.start("grace");
  GraceRequest q;
  q.period = o_.grace;
  q.probe_bound = std::max(milliseconds(100), o_.limits.wall / 5);
  q.v2 = &inputs_->v2;
  q.future_runtime = &*future_runtime_;
  q.shared = &*shared_;
  q.threads = &future_threads_->threads();  // every thread of F watched (issue 19)
  if (o_.test_hooks && o_.test_hooks->die_at == "commit.grace")  // TEST ONLY (test_hooks.h)
    q.on_stop = [] { ::kill(::getpid(), SIGKILL); };
  std::optional<inject::SeizedProcess> hung;
  rep_.grace.emplace();
  served_again();  // F runs from the start of the period
  GraceVerdict v = run_grace_period(*future_, q, *rep_.grace, hung);
  if (v.kind != GraceVerdict::Kind::kHealthy) rollback_after_commit(v, hung);
  future_.reset();  // released by the grace period: serving, not traced
  undoomed_.reset();  // from here on P is ended for good
  notes.grace = rep_.grace;
  // What P printed but had not written yet (stdio_flush.h): after F's output of
  // the grace period. Then the service manager follows F (service_notify.h).
  notes.flushed = flush_past_stdio(o_.pid, past_->main_thread(), milliseconds(200));
  notes.notified = notify_main_pid(o_.pid, past_->main_thread(), future_pid_, milliseconds(500));
  commit_step("commit.flushed");
}

// F crashed, exited or hung within the grace period: F ended, P given back what F
// changed in their shared descriptions, P's connections F read from closed, P's
// registers put back; the transaction ends as rolled back after the commit and
// rollback_created releases P.
void Transaction::rollback_after_commit(const GraceVerdict& v, std::optional<inject::SeizedProcess>& hung) {
  const pid_t fpid = future_pid_;
  // A hung F dies with this process from here on, so that P, resumable from the
  // next step on, never serves beside it (one ptrace call wide: see README).
  if (hung) hung->main_thread().set_options(inject::options_child());
  past_->main_thread().set_regs(*undoomed_);
  undoomed_.reset();
  undoom_past_threads();
  if (hung) {
    ::kill(fpid, SIGKILL);
    reap_killed_threads(*hung, milliseconds(5000));  // a multi-threaded F's other threads first
    for (auto s = hung->main_thread().wait_for(milliseconds(5000)); s && s->alive();)
      s = hung->main_thread().wait_for(milliseconds(5000));
    hung->main_thread().forget();
    hung.reset();
  }
  future_.reset();
  Grace& g = *rep_.grace;
  g.restored = shared_->restore();
  size_t closed = 0, replied = 0;
  for (GraceConnection& c : g.connections) {
    replied += c.replied;
    if (!c.read) continue;
    const std::string why = shared_->close_connection(c.fd);
    c.closed = why.empty() ? "closed for the old version (its client sees the end and retries)" : "not closed: " + why;
    closed += why.empty();
  }
  const std::string after = " " + std::to_string(static_cast<long>(g.ms)) + " ms into the grace period";
  std::string what = v.kind == GraceVerdict::Kind::kHung     ? "the new version hung" + after + " (" + v.detail + ")"
                     : v.kind == GraceVerdict::Kind::kExited ? "the new version " + v.detail + after
                                                             : "the new version crashed" + after + " (" + v.detail + ")";
  what += "; the old version resumed with its state as before the update";
  if (closed) what += "; " + std::to_string(closed) + " connection(s) v2 read from were closed (their clients retry)";
  if (replied || g.replied_on_accepted)
    what += "; requests v2 acknowledged on " + std::to_string(replied + g.replied_on_accepted) +
            " connection(s) are possibly lost";
  throw TransactionEnd{Outcome::kRolledBackAfterCommit,
                       v.kind == GraceVerdict::Kind::kHung ? Reason::kHang : Reason::kCrash,
                       what,
                       "fix the new version (see the report for where it failed and what it served); the old "
                       "version keeps serving",
                       v.crash,
                       v.detail,
                       {}};
}

void Transaction::end(const TransactionEnd& e) {
  phases_.end();
  if (!rep_.cpu_budget_ms) record_time_limit();
  rep_.outcome = e.outcome;
  if (e.reason == Reason::kInternal) rep_.outcome = touched_ ? Outcome::kRolledBack : Outcome::kRefused;
  rep_.reason = e.reason;
  rep_.message = e.message;
  rep_.advice = e.advice;
  rep_.crash = e.crash;
  rep_.detail = e.detail;
  rep_.needs_user_code = e.needs_user_code;
  rep_.new_pid = 0;  // nothing new serves (P does: old_pid)
  if (touched_) rollback_created();
}

void Transaction::end_later(std::optional<inject::ChildProcess>& c) {
  if (c && c->task().attached() && c->task().stopped()) {
    ::kill(c->pid(), SIGKILL);
    ended_.push_back(std::move(*c));
  }
  c.reset();  // moved from: nothing; else killed and waited for now
}

// rollback: F and R killed, P released untouched.
void Transaction::rollback_created() {
  phases_.start("rollback");
  // F stopped at its update point with no traced threads of its own: killed now,
  // reaped after P serves again (end_later); else killed and waited for here.
  bool future_threads_traced = false;
  if (future_threads_)
    for (inject::Task& t : future_threads_->threads()) future_threads_traced |= t.attached();
  end_later(future_key_);
  if (!future_threads_traced) end_later(future_);
  future_threads_.reset();  // F killed, its traced threads reaped (so its end can be waited for)
  future_.reset();
  undoom_past_threads();
  if (undoomed_ && past_) {  // an error during the grace period: F is gone, P resumes
    try {
      past_->main_thread().set_regs(*undoomed_);
    } catch (const std::exception& e) {
      spdlog::error("could not put back the registers of pid {}: {}", o_.pid, e.what());
    }
    undoomed_.reset();
  }
  adoption_.reset();  // the supervisor's duplicates of P's listeners closed, nothing made on them
  files_.reset();     // nothing deferred is made; v2's staged files, unnamed, went with F
  end_later(reversed_);
  snapshot_.reset();  // pre-copy's S and K (EXITKILL: they die with us anyway)
  key_.reset();
  if (!past_) {  // the pre-copy round: P serves, released at the snapshot
    phases_.end();
    return;
  }
  if (driven_) {
    try {
      past_runtime_->set_update_requested(0);
    } catch (const std::exception& e) {
      spdlog::warn("could not clear update_requested in pid {} (its next update point clears it): {}", o_.pid,
                   e.what());
    }
  }
  past_->release();
  served_again();
  phases_.end();
}

TransactionEnd internal_error(const std::string& what) {
  return TransactionEnd{Outcome::kRolledBack, Reason::kInternal, "internal error: " + what,
                        "the old version keeps serving; report this with the post-mortem report", std::nullopt, "",
                        {}};
}

}  // namespace

Attempt run_update(const Options& o) {
  Attempt a;
  a.report.started_at = now_iso();
  a.report.old_pid = o.pid;
  a.report.new_pid = 0;  // set to F's pid by the commit
  a.report.old_binary.path = "/proc/" + std::to_string(o.pid) + "/exe";
  a.report.new_binary.path = o.new_path;
  Transaction t(o, a.report);
  try {
    t.plan();
    t.quiesce();
    if (!(o.precopy && t.precopy())) {
      t.create();
      t.startup();
      t.forward();
      if (!o.forward_only) {
        t.backward();
        t.diff();
      }
    }
    t.validate();
    t.commit();
  } catch (const TransactionEnd& e) {
    t.end(e);
  } catch (const inject::Timeout& e) {
    t.end(t.step_out_of_time(e));
  } catch (const std::exception& e) {  // a bug, wherever it happens
    t.end(internal_error(e.what()));
  } catch (...) {
    t.end(internal_error("an exception of unknown type"));
  }
  a.exit_status = exit_status_of(a.report);
  return a;
}

}  // namespace ttst::supervisor
