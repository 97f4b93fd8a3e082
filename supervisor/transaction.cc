// transaction.cc — see transaction.h. The order of the phases and what each
// leaves behind on failure:
//   preflight (plan)      nothing touched                      -> refused (2)
//   quiesce               read-only probe, P released          -> refused (2)
//   seize P, create R, F  R/F die with us (EXITKILL)           -> rolled back (1)
//   startup, forward,
//   backward, diff        P stopped, only read                 -> rolled back (1)
//   commit                F released first, then P killed while still stopped
// P is a SeizedProcess: however this function leaves, its threads are detached
// and run on exactly where they were.
#include "supervisor/transaction.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>

#include <spdlog/spdlog.h>

#include "diff/differ.h"
#include "dwarfmeta/cache.h"
#include "inject/agent/agent_abi.h"
#include "inject/agent_session.h"
#include "inject/decode.h"
#include "inject/error.h"
#include "inject/memory.h"
#include "inject/process.h"
#include "inject/process_factory.h"
#include "stfw/abi/ttst_abi.h"
#include "stfw/stfw_task.h"
#include "supervisor/preflight.h"
#include "supervisor/quiesce/quiesce.h"
#include "supervisor/quiesce/upoint_map.h"
#include "supervisor/service_notify.h"
#include "supervisor/state_model_adapter.h"
#include "supervisor/stdio_flush.h"

namespace ttst::supervisor {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string now_iso() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The end of a transaction that did not commit: thrown inside, caught once.
struct Abort {
  Outcome outcome;
  Reason reason;
  std::string message, advice;
  std::optional<Crash> crash;
  std::string detail;
};

[[noreturn]] void rollback(Reason reason, std::string message, std::string advice,
                           std::optional<Crash> crash = std::nullopt, std::string detail = "") {
  throw Abort{Outcome::kRolledBack, reason, std::move(message), std::move(advice), std::move(crash),
              std::move(detail)};
}

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

 private:
  Report& report_;
  const Options& opts_;
  std::string name_;
  Clock::time_point t0_;
};

struct Deadline {
  Clock::time_point at;
  milliseconds left() const {
    auto d = std::chrono::duration_cast<milliseconds>(at - Clock::now());
    return d.count() > 0 ? d : milliseconds(0);
  }
};

bool is_fault(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGABRT ||
         sig == SIGTRAP || sig == SIGSYS;
}

// F from the stop after execve to its first update point (the marker syscall-entry
// stop of ttst_abi.h §4/§5). Returns the run-time bias of v2.
void run_future_to_update_point(inject::ChildProcess& f, const dwarfmeta::Program& v2,
                                const quiesce::UpdatePointMap& v2map, const Deadline& dl) {
  inject::Task& t = f.task();
  std::optional<Crash> crash;
  auto on_signal = [&](const inject::Stop& s) {
    if (!is_fault(s.sig) || crash) return;
    Crash c;
    c.process = "future";
    c.signal = s.sig;
    siginfo_t si = t.get_siginfo();
    c.fault_address = reinterpret_cast<uint64_t>(si.si_addr);
    uint64_t rip = t.get_regs().rip;
    c.instruction = inject::decode_remote_instruction(f.pid(), rip).text;
    try {
      uint64_t bias = quiesce::load_bias(f.pid(), v2map);
      if (const dwarfmeta::Function* fn = v2.function_at(rip - bias)) {
        char off[32];
        std::snprintf(off, sizeof off, "+0x%llx", static_cast<unsigned long long>(rip - bias - fn->low));
        c.symbol = fn->id + off;
      }
    } catch (const std::exception&) {
    }
    crash = c;
  };
  std::optional<inject::Stop> s =
      t.run_to_syscall([](const user_regs_struct& r) { return quiesce::at_marker(r, 0); }, dl.left(), on_signal);
  if (!s)
    rollback(Reason::kNoUpdatePoint, "the new version did not reach an update point within the time limit",
             "check that v2's event loop holds TTST_UPDATE_POINT(), or raise --timeout");
  if (s->kind == inject::StopKind::kExited)
    rollback(Reason::kStartupCrash,
             "the new version exited with status " + std::to_string(s->exit_code) +
                 " during start-up, before its update point",
             "run v2 by hand to see why it exits; the old version keeps serving");
  if (s->kind == inject::StopKind::kKilled) {
    std::string where;
    if (crash) {
      where = " at " + (crash->symbol.empty() ? std::string("?") : crash->symbol);
      if (!crash->instruction.empty()) where += " (" + crash->instruction + ")";
    } else {
      crash = Crash{"future", s->sig, 0, "", ""};
    }
    rollback(Reason::kStartupCrash,
             "the new version crashed during start-up: " + inject::signal_name(s->sig) + where,
             "fix v2's start-up (run it by hand or under gdb); the old version keeps serving", crash);
  }
}

// The agent's arena must hold a copy of the peer's writable memory plus its own
// tables for the objects of both sides (stfw/README.md). The arena is anonymous
// memory the kernel commits only when touched, so it is sized generously: four
// times the peer's writable memory and 256 MiB more.
uint64_t agent_heap_size(pid_t peer) {
  uint64_t writable = 0;
  for (const inject::Mapping& m : inject::read_maps(peer))
    if (m.writable()) writable += m.end - m.start;
  return ((4 * writable + (256ull << 20)) + 4095) & ~uint64_t{4095};
}

// Runs one state-transfer task in `thread`; rolls back on anything but OK.
Transfer run_transfer(inject::Task& thread, const char* process, uint32_t task, uint32_t mode, pid_t peer,
                      std::array<uint64_t, 8> args, const std::vector<uint8_t>& self,
                      const std::vector<uint8_t>& peer_img, const Deadline& dl) {
  // TEST-ONLY hooks (transaction.h).
  const char* forced = std::getenv(mode == TTST_AGENT_MODE_FORWARD ? kTestForwardTaskEnv : kTestBackwardTaskEnv);
  if (forced && *forced) task = static_cast<uint32_t>(std::strtoul(forced, nullptr, 0));
  inject::AgentRequest req;
  req.task = task;
  req.mode = mode;
  req.peer_pid = peer;
  req.args = args;
  req.meta_self = self;
  req.meta_peer = peer_img;
  req.output_size = 1 << 20;
  req.heap_size = agent_heap_size(peer);
  req.timeout = std::max(dl.left(), milliseconds(1));
  inject::AgentOutcome out = inject::run_agent(thread, req);
  std::string dir = mode == TTST_AGENT_MODE_FORWARD ? "forward" : "backward";
  switch (out.kind) {
    case inject::AgentOutcome::Kind::kFinished: {
      if (out.status == TTST_STFW_STATUS_OK)
        return Transfer{dir, out.detail[TTST_STFW_DETAIL_OBJECTS], out.detail[TTST_STFW_DETAIL_BYTES],
                        out.detail[TTST_STFW_DETAIL_POINTERS], out.detail[TTST_STFW_DETAIL_TRANSFORMS]};
      std::string line;
      for (uint8_t c : out.output) {
        if (c == 0) break;
        line.push_back(static_cast<char>(c));
      }
      if (out.status == TTST_AGENT_STATUS_UNKNOWN_TASK)
        throw Abort{Outcome::kRolledBack, Reason::kInternal,
                    "this build has no state-transfer engine (the agent does not know the " + dir +
                        " transfer task)",
                    "build ttst with stfw's transfer engine; the old version keeps serving", std::nullopt, ""};
      if (out.status == TTST_STFW_STATUS_INVARIANT || out.status == TTST_STFW_STATUS_AMBIGUOUS)
        rollback(Reason::kInvariant, "the " + dir + " transfer refused: " + line,
                 "add transfer code or annotations for this object (see ttst-meta plan)", std::nullopt, line);
      throw Abort{Outcome::kRolledBack, Reason::kInternal,
                  "the " + dir + " transfer failed with status " + std::to_string(out.status) +
                      (line.empty() ? "" : ": " + line),
                  "report this with the post-mortem report; the old version keeps serving", std::nullopt, line};
    }
    case inject::AgentOutcome::Kind::kCrashed: {
      Crash c{process, out.signal, out.fault_address, out.instruction, out.symbol};
      rollback(Reason::kCrash,
               "the " + dir + " transfer crashed in the " + process + " process: " + out.describe(),
               "the old version keeps serving; send the report to the transfer code's authors", c);
    }
    case inject::AgentOutcome::Kind::kHung:
      rollback(Reason::kTimeout, "the " + dir + " transfer did not finish in time: " + out.describe(),
               "raise --timeout if the state is large; the old version keeps serving");
    case inject::AgentOutcome::Kind::kDied:
      rollback(Reason::kCrash, std::string("the ") + process + " process died during the " + dir + " transfer",
               "the old version keeps serving; see the report");
  }
  throw Abort{Outcome::kRolledBack, Reason::kInternal, "the " + dir + " transfer ended in an unknown way",
              "the old version keeps serving; see the report", std::nullopt, ""};
}

// TEST ONLY (kTestDieAtEnv): the supervisor killed at a named commit step.
void commit_step(const char* name) {
  const char* at = std::getenv(kTestDieAtEnv);
  if (at && std::strcmp(at, name) == 0) ::kill(::getpid(), SIGKILL);
}

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

void write_runtime_flags(pid_t pid, uint64_t runtime, uint32_t update_requested, uint32_t updating) {
  uint32_t v[2] = {update_requested, updating};
  inject::write_memory(pid, runtime + offsetof(struct ttst_runtime, update_requested),
                       std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v), sizeof v));
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

void write_pidfile(const std::string& path, pid_t pid) {
  std::string tmp = path + ".ttst-tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << pid << "\n";
    if (!out) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot replace " + path + ": " + std::strerror(errno));
}

}  // namespace

namespace {
int status_of(const Report& r) {
  switch (r.outcome) {
    case Outcome::kCommitted: return 0;
    case Outcome::kRefused: return 2;
    case Outcome::kRolledBack: return r.reason == Reason::kValidateOnly ? 0 : 1;
  }
  return 3;
}
Report run_update_report(const Options& o, bool& internal);
}  // namespace

Attempt run_update(const Options& o) {
  bool internal = false;
  Attempt a;
  a.report = run_update_report(o, internal);
  a.exit_status = internal ? 3 : status_of(a.report);
  return a;
}

namespace {
Report run_update_report(const Options& o, bool& internal) {
  Report rep;
  rep.started_at = now_iso();
  rep.old_pid = o.pid;
  rep.new_pid = o.pid;
  rep.old_binary.path = "/proc/" + std::to_string(o.pid) + "/exe";
  rep.new_binary.path = o.new_path;
  Phases phases(rep, o);
  Deadline dl{Clock::now() + o.timeout};

  // ---- before touching P ----
  Preflight pf;
  quiesce::UpdatePointMap v1map, v2map;
  try {
    phases.start("plan");
    if (!o.xfer.empty())
      throw Refusal("--xfer (user transfer code) is not supported by this build yet",
                    "run without --xfer, or wait for the extensions release");
    pf = preflight(o.pid, o.new_path, !o.xfer.empty(), o.allow_different_program);
    char exe[4096];
    ssize_t n = readlink(pf.old_exe.c_str(), exe, sizeof exe - 1);
    rep.old_binary.path = n > 0 ? std::string(exe, n) : pf.old_exe;
    rep.new_binary.path = pf.new_exe;
    rep.old_binary.build_id = pf.v1.build_id;
    rep.new_binary.build_id = pf.v2.build_id;
    v1map = quiesce::UpdatePointMap::load(pf.old_exe);
    v2map = quiesce::UpdatePointMap::load(pf.new_exe);
    phases.end();
  } catch (const Refusal& r) {
    phases.end();
    rep.outcome = Outcome::kRefused;
    rep.reason = r.needs_user_code().empty() ? Reason::kBadInput : Reason::kNeedsUserCode;
    rep.needs_user_code = r.needs_user_code();
    rep.message = r.what();
    rep.advice = r.advice();
    return rep;
  } catch (const std::exception& e) {
    phases.end();
    rep.outcome = Outcome::kRefused;
    rep.reason = Reason::kBadInput;
    rep.message = e.what();
    rep.advice = "check the pid and the new version";
    return rep;
  }

  // ---- P seized: from here on P is only stopped and read ----
  // The quiescence rule is applied to this seizure itself; a P found busy or
  // mid-request is driven to its update point.
  std::optional<inject::SeizedProcess> past;
  quiesce::Report q;
  try {
    phases.start("quiesce");
    past.emplace(seize_pinned(pf.pin, std::max(dl.left(), milliseconds(100))));  // the pid still names P
    q = quiesce::classify(*past, v1map);
    spdlog::debug("quiescence: {}", q.message);
  } catch (const std::exception& e) {
    phases.end();
    rep.outcome = Outcome::kRefused;
    rep.reason = Reason::kBadInput;
    rep.message = std::string("cannot trace pid ") + std::to_string(o.pid) + ": " + e.what();
    rep.advice = "run ttst-supervise as root, and make sure no debugger is attached";
    return rep;
  }
  std::optional<inject::ChildProcess> reversed, future;
  bool driven = false;  // P's thread sits in the marker stop, update_requested = 1
  try {
    if (past->threads().size() != 1)
      throw Abort{Outcome::kRefused, Reason::kBadInput, "the program started a thread: multi-threaded programs are not supported yet",
                  "update a single-threaded program", std::nullopt, ""};
    uint64_t p_bias = quiesce::load_bias(o.pid, v1map);
    uint64_t p_rt = pf.v1.runtime_addr + p_bias;
    if (!q.quiescent) {  // busy or mid-request: the stop protocol
      auto bound = std::min(dl.left(), std::max(milliseconds(100), o.timeout / 5));
      std::string where;
      if (!quiesce::drive_to_update_point(*past, p_rt, bound, where)) {
        past->release();
        throw Abort{Outcome::kRefused, Reason::kNotQuiescent,
                    "the program did not reach an update point within " + std::to_string(bound.count()) +
                        " ms (" + where + ")",
                    "try again when the program is idle, or raise --timeout", std::nullopt, ""};
      }
      driven = true;
    }
    phases.start("create");
    milliseconds step = std::max(std::min(dl.left(), milliseconds(2000)), milliseconds(100));
    inject::FutureSpec spec;
    spec.exe = pf.new_exe;
    future.emplace(inject::create_future(past->main_thread(), spec, step));
    rep.new_pid = o.pid;

    phases.start("startup");
    run_future_to_update_point(*future, pf.v2, v2map, dl);

    uint64_t f_bias = quiesce::load_bias(future->pid(), v2map);
    uint64_t f_rt = pf.v2.runtime_addr + f_bias;
    auto v1img = dwarfmeta::cached_image(pf.old_exe);
    auto v2img = dwarfmeta::cached_image(pf.new_exe);
    std::vector<uint8_t> img1(v1img.data(), v1img.data() + v1img.size());
    std::vector<uint8_t> img2(v2img.data(), v2img.data() + v2img.size());

    phases.start("forward");
    rep.transfers.push_back(run_transfer(future->task(), "future", TTST_AGENT_TASK_STFW_FORWARD,
                                         TTST_AGENT_MODE_FORWARD, o.pid,
                                         {f_bias, p_bias, f_rt, p_rt, 0, past->main_thread().get_regs().fs_base, 0, 0},
                                         img2, img1, dl));
    if (!o.forward_only) {
      phases.start("backward");
      // R is forked only now: the forward transfer's reads of P (process_vm_readv
      // pins pages, and the kernel unshares a copy-on-write page it pins) would
      // otherwise have split every page P shared with R. Forked after them, R shares
      // P's pages until the backward transfer writes one, and the differ's
      // page-level fast path finds the untouched ones equal. P has stayed stopped and
      // untouched since it was seized, so R is the same clone either way.
      reversed.emplace(inject::create_reversed(
          past->main_thread(), std::max(std::min(dl.left(), milliseconds(2000)), milliseconds(100))));
      rep.transfers.push_back(run_transfer(
          reversed->task(), "reversed", TTST_AGENT_TASK_STFW_BACKWARD, TTST_AGENT_MODE_BACKWARD, future->pid(),
          {p_bias, f_bias, p_rt, f_rt, 0, future->task().get_regs().fs_base, 0, 0}, img1, img2, dl));
      phases.start("diff");
      diff::Options dopt;
      for (auto& t : past->threads())
        if (auto a = t.rseq_area())
          for (auto& f : diff::rseq_kernel_fields(a->first, "thread " + std::to_string(t.tid())))
            dopt.kernel_fields.push_back(f);
      diff::Result res = diff::diff_processes(o.pid, reversed->pid(), dopt);
      if (!res.equal()) {
        try {
          rep.differences = name_for_report(res, pf.v1, p_bias, p_rt, o.pid, reversed->pid(), 100,
                                            rep.differences_total);
        } catch (const std::exception& e) {  // naming never changes the verdict
          spdlog::warn("naming the differences failed: {}", e.what());
          rep.differences_total = res.bytes.size() + res.more_byte_diffs + res.mappings.size();
        }
        rollback(Reason::kStateDiff,
                 std::to_string(rep.differences_total) +
                     (rep.differences_total == 1 ? " difference" : " differences") +
                     " between the old state and its round trip through v2",
                 "the transfer loses or changes state: see the differences in the report");
      }
    }
    // P, R and F all alive at their largest: the memory figure of the benchmark.
    spdlog::debug("memory (PSS): P {} KiB, R {} KiB, F {} KiB", pss_kib(o.pid),
                  reversed ? pss_kib(reversed->pid()) : 0, pss_kib(future->pid()));
    if (dl.left().count() == 0)
      rollback(Reason::kTimeout, "the update took longer than --timeout", "raise --timeout");
    if (o.validate_only)
      throw Abort{Outcome::kRolledBack, Reason::kValidateOnly,
                  "validation passed: the update would commit (rolled back as --validate-only asks)",
                  "run again without --validate-only to update", std::nullopt, ""};

    // ---- commit: F serves, P and R end ----
    phases.start("commit");
    // The commit point, in an order that leaves exactly one version serving if this
    // process is killed between any two steps (ttst_abi.h §5).
    pid_t fpid = future->pid();
    const uint64_t past_pid = static_cast<uint64_t>(o.pid);
    inject::write_memory(fpid, f_rt + offsetof(struct ttst_runtime, past_pid),
                         std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&past_pid), sizeof past_pid));
    commit_step("commit.past_pid");
    future->task().set_options(inject::options_child() & ~unsigned{PTRACE_O_EXITKILL});
    commit_step("commit.unleashed");
    doom(past->main_thread());
    commit_step("commit.past_doomed");
    // What P printed but had not written yet goes out before F runs (stdio_flush.h).
    StdioFlush flushed = flush_past_stdio(o.pid, past->main_thread(), milliseconds(200));
    // The service manager follows F as the main process (service_notify.h).
    ServiceNotify notified = notify_main_pid(o.pid, past->main_thread(), fpid, milliseconds(500));
    commit_step("commit.flushed");
    write_runtime_flags(fpid, f_rt, 0, 0);
    future->release();
    future.reset();
    commit_step("commit.released");
    reversed.reset();  // killed
    // P dies while still stopped: released, it would run its exit_group anyway.
    ::kill(o.pid, SIGKILL);
    past->release();
    if (!o.pidfile.empty()) write_pidfile(o.pidfile, fpid);
    phases.end();
    rep.outcome = Outcome::kCommitted;
    rep.reason = Reason::kNone;
    rep.new_pid = fpid;
    rep.message = "updated pid " + std::to_string(o.pid) + " to " + pf.new_exe + ": now serving as pid " +
                  std::to_string(fpid);
    if (flushed.bytes)
      rep.message += "; wrote the " + std::to_string(flushed.bytes) + " bytes of output the old version had buffered (" +
                     std::to_string(flushed.files) + (flushed.files == 1 ? " file)" : " files)");
    if (notified.sent) rep.message += "; told the service manager (NOTIFY_SOCKET) the new main PID";
    if (notified.attempted && !notified.sent)
      rep.message += "; could not tell the service manager the new main PID (" + notified.problem + ")";
    if (flushed.lost || !flushed.problem.empty())
      rep.message += "; " + std::to_string(flushed.lost) + " bytes of its buffered output could not be written (" +
                     flushed.problem + ")";
    rep.advice = "nothing to do";
    return rep;
  } catch (const Abort& a) {
    rep.outcome = a.outcome;
    rep.reason = a.reason;
    rep.message = a.message;
    rep.advice = a.advice;
    rep.crash = a.crash;
    rep.detail = a.detail;
  } catch (const std::exception& e) {
    rep.outcome = Outcome::kRolledBack;
    rep.reason = Reason::kInternal;
    internal = true;
    rep.message = std::string("internal error: ") + e.what();
    rep.advice = "the old version keeps serving; report this with the post-mortem report";
  }
  // ---- roll back: F and R killed, P released untouched ----
  phases.start("rollback");
  future.reset();
  reversed.reset();
  if (driven) {
    try {
      quiesce::set_update_requested(o.pid, pf.v1.runtime_addr + quiesce::load_bias(o.pid, v1map), 0);
    } catch (const std::exception& e) {
      spdlog::warn("could not clear update_requested in pid {} (its next update point clears it): {}", o.pid,
                   e.what());
    }
  }
  past->release();
  phases.end();
  rep.new_pid = o.pid;
  return rep;
}
}  // namespace

}  // namespace ttst::supervisor
