// agent_session.cc — see agent_session.h.
#include "inject/agent_session.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <fmt/format.h>

#include "inject/decode.h"
#include "inject/error.h"
#include "inject/memory.h"
#include "inject/process.h"
#include "inject/remote_syscalls.h"
#include "inject/steps.h"
#include "inject/sys/proc_status.h"
#include "inject/sys/signals.h"

namespace ttst::inject {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kGuardSize = 16 * kPage;
// How often a running helper thread's stops are looked for (it reports nothing
// itself: a crash leaves it stopped, the agent waiting for it).
constexpr milliseconds kHelperPoll{5};
// How long a helper the agent joined may take to be reported gone.
constexpr milliseconds kHelperExit{2000};
uint64_t page_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }
uint64_t sigbit(int sig) { return 1ull << (sig - 1); }

AgentLayout plan(const AgentImage& image, const AgentRequest& rq) {
  AgentLayout l{};
  uint64_t at = image.span();
  l.desc = at;
  at += page_up(sizeof(ttst_agent_desc));
  l.meta_self = at;
  at += page_up(rq.meta_self.size());
  l.meta_peer = at;
  at += page_up(rq.meta_peer.size());
  l.plugin = at;
  at += page_up(rq.plugin.size());
  l.input = at;
  at += page_up(std::max<uint64_t>(rq.input.size(), rq.input_capacity));
  l.output = at;
  at += page_up(rq.output_size);
  l.heap = at;
  l.heap_size = page_up(rq.heap_size);
  at += l.heap_size;
  l.guard = at;
  at += kGuardSize;
  l.stack = at;
  l.stack_size = page_up(rq.stack_size);
  at += l.stack_size;
  l.total = at;
  return l;
}

int32_t tgid_of(pid_t tid) {
  std::optional<sys::ProcStatus> status = sys::ProcStatus::read(tid);
  return status && status->tgid() != 0 ? status->tgid() : tid;
}

}  // namespace

std::string AgentOutcome::describe() const {
  switch (kind) {
    case Kind::kFinished:
      return fmt::format("agent finished with status {}", status);
    case Kind::kCrashed:
      if (!escaped.empty())
        return fmt::format("agent crashed: {}, at `{}` ({})", escaped, instruction,
                           symbol.empty() ? "outside the agent" : symbol);
      return fmt::format("agent crashed{}: {} (si_code {}) at address {:#x}{}, instruction `{}` at {:#x} ({})",
                         in_helper ? " in its helper thread" : "", sys::signal_name(signal), si_code, fault_address,
                         stack_overflow ? " (stack overflow)" : "", instruction, rip,
                         symbol.empty() ? "outside the agent" : symbol);
    case Kind::kHung:
      return fmt::format("agent hung: no result before the timeout, stopped at `{}` at {:#x} ({})",
                         instruction, rip, symbol.empty() ? "outside the agent" : symbol);
    case Kind::kDied:
      return "the process the agent ran in died";
  }
  return "?";
}

namespace {

// One run of the agent, in the order run_agent calls the steps: each step has one
// job; a step that finds the process gone (or its image replaced) sets the outcome
// and returns false, and run_agent stops there.
class AgentRun {
 public:
  AgentRun(Task& thread, const AgentRequest& rq, const AgentImage& image, RemoteSyscalls& rs, AgentOutcome& out)
      : thread_(thread), tid_(thread.tid()), pid_(tgid_of(tid_)), rq_(rq), image_(image),
        l_(rq.in_region ? rq.in_region->layout : plan(image, rq)), rs_(rs), out_(out) {}
  ~AgentRun() { end_helpers(); }

  void map_region();
  void load();
  void protect();
  void start();
  bool await_outcome();
  void read_results();
  void remove();

 private:
  bool stop_hung_agent();
  void show_progress(milliseconds elapsed);
  void record_signal(Task& t, const Stop& s);
  bool contain_escape(Task& t);
  bool adopt_helper(pid_t child);
  bool helper_failed();
  void helpers_ended();
  void stop_agent();
  void end_helpers() noexcept;
  void describe_stop();
  void died() {
    rs_.abandon();
    out_.kind = AgentOutcome::Kind::kDied;
  }

  Task& thread_;
  const pid_t tid_;
  const int32_t pid_;
  const AgentRequest& rq_;
  const AgentImage& image_;
  const AgentLayout l_;
  RemoteSyscalls& rs_;
  AgentOutcome& out_;
  uint64_t base_ = 0;
  uint64_t heap_from_ = 0;  // offset of this run's heap (a kept region's heap_next)
  uint64_t heap_used_ = 0;  // what the agent says its allocator used (desc.heap_used)
  uint64_t image_hash_ = 0;  // FNV-1a of the relocated image (a kept region's identity)
  std::chrono::steady_clock::time_point started_;
  std::vector<Task> helpers_;  // adopted helper threads (end_helpers: none is ever let go)
  bool image_gone_ = false;    // a helper replaced the process image
};

// 1. The region: read-write, private, anywhere the kernel finds room (it collides
//    with nothing in this process) — or the one an earlier run kept.
void AgentRun::map_region() {
  if (const AgentRegion* kept = rq_.in_region) {
    auto fits = [](const char* what, uint64_t size, uint64_t cap) {
      if (size > cap)
        throw InjectError(std::string("the kept agent region's ") + what + " slot holds " + std::to_string(cap) +
                          " bytes, not " + std::to_string(size));
    };
    fits("metadata", rq_.meta_self.size(), l_.meta_peer - l_.meta_self);
    fits("peer metadata", rq_.meta_peer.size(), l_.plugin - l_.meta_peer);
    fits("plugin", rq_.plugin.size(), l_.input - l_.plugin);
    fits("input", rq_.input.size(), l_.output - l_.input);
    fits("output", rq_.output_size, l_.heap - l_.output);
    base_ = kept->start, heap_from_ = kept->heap_next;
    out_.region_start = base_;
    out_.region_size = l_.total;
    return;
  }
  base_ = static_cast<uint64_t>(rs_.call_checked(
      "mmap of the agent region", SYS_mmap,
      {0, l_.total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, static_cast<uint64_t>(-1),
       0}));
  heap_from_ = l_.heap;
  out_.region_start = base_;
  out_.region_size = l_.total;
  // The arena on huge pages where the kernel can find them (compacting if it must:
  // the default defrag policy compacts only for advised ranges). A transfer touches
  // hundreds of MiB of fresh arena (the peer's copy, the object tables); on 4 KiB
  // pages that is a fault per page, and under a hypervisor that shadows page tables
  // each costs microseconds. Advice only: refused (no THP), the arena works as it is.
  const uint64_t huge = 2ull << 20, lo = (base_ + l_.heap + huge - 1) & ~(huge - 1),
                 hi = (base_ + l_.heap + l_.heap_size) & ~(huge - 1);
  if (hi > lo) rs_.call(SYS_madvise, {lo, hi - lo, MADV_HUGEPAGE, 0, 0, 0});
}

// 2. The relocated image, the task descriptor and the blobs, in one write (in a kept
//    region: the image's writable data, the descriptor and the blobs).
void AgentRun::load() {
  std::vector<uint8_t> blob = image_.relocated(base_);
  image_hash_ = 0xcbf29ce484222325ull;
  for (uint8_t b : blob) image_hash_ = (image_hash_ ^ b) * 0x100000001b3ull;
  const bool kept = rq_.in_region != nullptr;
  if (kept && rq_.in_region->image_hash != image_hash_)
    throw InjectError("the kept agent region holds another agent image: run the same image in it");
  blob.resize(l_.input + page_up(rq_.input.size()), 0);
  ttst_agent_desc desc{};
  desc.magic = TTST_AGENT_MAGIC;
  desc.abi_version = TTST_AGENT_ABI_VERSION;
  desc.task = rq_.task;
  desc.mode = rq_.mode;
  desc.peer_pid = rq_.peer_pid;
  desc.self_pid = pid_;
  desc.helpers = rq_.helpers;
  desc.region = {base_, l_.total};
  auto range = [this](uint64_t off, uint64_t size) { return ttst_agent_range{size ? base_ + off : 0, size}; };
  desc.meta_self = range(l_.meta_self, rq_.meta_self.size());
  desc.meta_peer = range(l_.meta_peer, rq_.meta_peer.size());
  desc.plugin = range(l_.plugin, rq_.plugin.size());
  desc.input = range(l_.input, rq_.input.size());
  desc.output = range(l_.output, rq_.output_size);
  desc.heap = range(heap_from_, l_.heap + l_.heap_size - heap_from_);
  desc.stack = range(l_.stack, l_.stack_size);
  for (size_t i = 0; i < rq_.args.size(); ++i) desc.arg[i] = rq_.args[i];
  std::memcpy(blob.data() + l_.desc, &desc, sizeof desc);
  std::copy(rq_.meta_self.begin(), rq_.meta_self.end(), blob.begin() + l_.meta_self);
  std::copy(rq_.meta_peer.begin(), rq_.meta_peer.end(), blob.begin() + l_.meta_peer);
  std::copy(rq_.plugin.begin(), rq_.plugin.end(), blob.begin() + l_.plugin);
  std::copy(rq_.input.begin(), rq_.input.end(), blob.begin() + l_.input);
  if (!kept) {
    write_memory(tid_, base_, blob);
    return;
  }
  // A kept region: its code and read-only data are in place (and not writable);
  // its writable data starts afresh (the allocator's and the helper's state), and
  // the descriptor and blobs are this run's. The heap is not written.
  for (const auto& run : image_.protections())
    if (run.prot == (PROT_READ | PROT_WRITE))
      write_memory(tid_, base_ + run.offset, std::span<const uint8_t>(blob).subspan(run.offset, run.size));
  write_memory(tid_, base_ + l_.desc, std::span<const uint8_t>(blob).subspan(l_.desc));
}

// 3. Code read-execute, read-only data read-only, guard pages inaccessible.
void AgentRun::protect() {
  for (const auto& run : image_.protections())
    if (run.prot != (PROT_READ | PROT_WRITE))
      rs_.call_checked("mprotect of the agent image", SYS_mprotect,
                       {base_ + run.offset, run.size, static_cast<uint64_t>(run.prot), 0, 0, 0});
  rs_.call_checked("mprotect of the agent's guard pages", SYS_mprotect,
                   {base_ + l_.guard, kGuardSize, PROT_NONE, 0, 0, 0});
  step("agent.loaded", pid_);
}

// 4. Started: its own stack, rdi = descriptor, clean FPU control state.
void AgentRun::start() {
  user_regs_struct r = rs_.saved().gpr;
  r.rip = base_ + image_.entry();
  r.rsp = base_ + l_.stack + l_.stack_size;
  r.rbp = 0;
  r.rdi = base_ + l_.desc;
  r.orig_rax = ~0ull;
  r.eflags &= ~0x500ull;
  std::vector<uint8_t> xs = rs_.saved().xstate;
  const uint16_t fcw = 0x37f;
  const uint32_t mxcsr = 0x1f80;
  std::memcpy(xs.data() + 0, &fcw, 2);
  std::memcpy(xs.data() + 24, &mxcsr, 4);
  // The fault signals stay unblocked while the agent runs: a fault is then
  // reported to the tracer without the kernel resetting the handler (which it
  // does for a blocked forced signal). Everything else stays blocked and pending.
  uint64_t mask = ~0ull;
  for (int s : sys::fault_signals()) mask &= ~sigbit(s);
  thread_.set_xstate(xs);
  thread_.set_regs(r);
  thread_.set_sigmask(mask);
  // Any thread or process the agent tries to create is attached (with EXITKILL)
  // from its first instruction, so it cannot escape; it is then killed.
  thread_.set_options(options_child() | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE);
  started_ = std::chrono::steady_clock::now();
  thread_.resume(PTRACE_CONT);
  step("agent.running", pid_);
}

// 5. The finish stop, a crash, an escape attempt or the timeout. False when the
//    process is gone or its image replaced (the outcome says which).
bool AgentRun::await_outcome() {
  const bool progress = rq_.on_progress && rq_.progress_every.count() > 0;
  const bool checked = rq_.out_of_time && rq_.check_every.count() > 0;
  milliseconds shown{0}, asked{0};
  for (;;) {
    auto left = rq_.timeout - std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started_);
    // Waited in slices when progress is shown or the caller checks its own bounds;
    // the deadline stays started_ + timeout.
    milliseconds every = progress ? rq_.progress_every : left;
    if (checked) every = std::min(every, rq_.check_every);
    const bool watching = !helpers_.empty();
    if (watching) every = std::min(every, kHelperPoll);
    const bool slice = (progress || checked || watching) && every < left;
    std::optional<Stop> s = thread_.wait_for(std::max(slice ? every : left, milliseconds(0)));
    if (!s && slice) {
      if (watching && helper_failed()) return !image_gone_ && out_.kind != AgentOutcome::Kind::kDied;
      // A late wake-up (a loaded machine) past the deadline is the deadline: no
      // progress shown after it.
      const auto elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started_);
      if (elapsed >= rq_.timeout) return stop_hung_agent();
      // The caller's bounds every check_every, not at each helper poll: they read
      // /proc figures of every thread watched (ten-thread servers: ~50 files), and
      // asked every 5 ms they took CPU from the agent's two threads on a 2-core
      // machine.
      if (checked && elapsed - asked >= rq_.check_every) {
        asked = elapsed;
        if (rq_.out_of_time()) return stop_hung_agent();
      }
      if (progress && elapsed - shown >= rq_.progress_every) {
        shown = elapsed;
        show_progress(elapsed);
      }
      continue;
    }
    if (!s) return stop_hung_agent();
    if (!s->alive()) {
      died();
      return false;
    }
    if (s->kind == StopKind::kSignalDelivery) {
      record_signal(thread_, *s);
      if (out_.kind == AgentOutcome::Kind::kFinished) helpers_ended();
      return true;
    }
    if (s->kind == StopKind::kEvent) {
      if (s->event == PTRACE_EVENT_EXEC) {  // the agent's process image is gone
        out_.kind = AgentOutcome::Kind::kCrashed;
        out_.instruction = "execve";
        out_.escaped = "the agent replaced the process image (execve)";
        rs_.abandon();
        return false;
      }
      if (s->event == PTRACE_EVENT_CLONE && adopt_helper(static_cast<pid_t>(thread_.event_msg()))) {
        thread_.resume(PTRACE_CONT);
        continue;
      }
      if (s->event == PTRACE_EVENT_FORK || s->event == PTRACE_EVENT_VFORK || s->event == PTRACE_EVENT_CLONE)
        return contain_escape(thread_);
    }
    // Syscall/group stops are not outcomes: let it run on.
    thread_.resume(PTRACE_CONT);
  }
}

// The agent's progress words, read from its descriptor while it runs (the kernel
// reads a running tracee's memory); unreadable: not shown.
void AgentRun::show_progress(milliseconds elapsed) {
  std::array<uint64_t, 4> words{};
  try {
    read_memory(tid_, base_ + l_.desc + offsetof(ttst_agent_desc, progress),
                std::span<uint8_t>(reinterpret_cast<uint8_t*>(words.data()), sizeof words));
  } catch (const std::exception&) {
    return;
  }
  rq_.on_progress(words, elapsed);
}

// Hung: interrupted, so that the thread is stopped where it was.
bool AgentRun::stop_hung_agent() {
  out_.kind = AgentOutcome::Kind::kHung;
  if (ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) != 0) throw_errno("interrupting a hung agent");
  for (;;) {
    // A starved thread (niced, on a CPU busy with others) may take seconds to get the
    // CPU it needs to reach the stop.
    Stop st = thread_.wait(milliseconds(10000), "the hung agent to stop");
    if (!st.alive()) {
      died();
      return false;
    }
    if (st.kind == StopKind::kInterrupt || st.kind == StopKind::kGroupStop || st.kind == StopKind::kSignalDelivery)
      break;
    thread_.resume(PTRACE_CONT);
  }
  out_.rip = thread_.get_regs().rip;
  return true;
}

// A signal: the agent's own SIGSTOP is its finish; anything else (in a helper
// thread: anything) a crash.
void AgentRun::record_signal(Task& t, const Stop& s) {
  siginfo_t si = t.get_siginfo();
  const bool helper = &t != &thread_;
  if (!helper && s.sig == SIGSTOP && si.si_code == SI_TKILL && si.si_pid == pid_) {
    out_.kind = AgentOutcome::Kind::kFinished;
    return;
  }
  out_.kind = AgentOutcome::Kind::kCrashed;
  out_.in_helper = helper;
  out_.signal = s.sig;
  out_.si_code = si.si_code;
  bool fault = si.si_code > 0 && sys::is_fault_signal(s.sig);  // sent by the kernel
  out_.fault_address = fault ? reinterpret_cast<uint64_t>(si.si_addr) : 0;
  out_.rip = t.get_regs().rip;
  uint64_t rsp = t.get_regs().rsp;
  out_.stack_overflow = !helper && (s.sig == SIGSEGV || s.sig == SIGBUS) &&
                        ((out_.fault_address >= base_ + l_.guard && out_.fault_address < base_ + l_.stack) ||
                         (rsp >= base_ + l_.guard - kPage && rsp < base_ + l_.stack + kPage));
}

// The agent (or its helper, `t`) tried to create a process or a thread the request
// does not allow (a fork/clone event stop).
bool AgentRun::contain_escape(Task& t) {
  auto child = static_cast<pid_t>(t.event_msg());
  std::optional<sys::ProcStatus> child_status = sys::ProcStatus::read(child);
  if (child_status && child_status->tgid() != pid_) {
    // A separate process: kill it now (we are its tracer, we reap it).
    ::kill(child, SIGKILL);
    waitpid(child, nullptr, __WALL);
    out_.escaped = "the agent tried to create a process (killed)";
  } else {
    // A thread of this process: SIGKILL would kill the process; it stays
    // stopped and traced (EXITKILL) until the caller discards the process.
    out_.escaped = "the agent created a thread; discard this process";
  }
  out_.kind = AgentOutcome::Kind::kCrashed;
  out_.in_helper = &t != &thread_;
  // The event stop is inside the syscall: let it finish (exit stop) so the
  // next remote syscall starts from a clean state.
  for (;;) {
    t.resume(PTRACE_SYSCALL);
    Stop st = t.wait(milliseconds(2000), "the end of the agent's fork");
    if (!st.alive()) {
      died();
      return false;
    }
    if (st.kind == StopKind::kSyscall) break;
  }
  out_.rip = t.get_regs().rip;
  if (out_.in_helper) stop_agent();
  return true;
}

// A thread the agent created: adopted and let run when the request allows one
// more helper and it is a thread of this process; false otherwise (an escape).
bool AgentRun::adopt_helper(pid_t child) {
  if (helpers_.size() >= rq_.helpers || tgid_of(child) != pid_) return false;
  helpers_.push_back(Task::adopt(child, milliseconds(2000)));
  helpers_.back().resume(PTRACE_CONT);
  step("agent.helper", child);
  return true;
}

// Looks at each helper without waiting: true when one crashed or tried to create
// a process or thread (the outcome says so; the agent is stopped where it was).
// A helper that exited is forgotten; other stops let it run on.
bool AgentRun::helper_failed() {
  for (Task& h : helpers_) {
    if (!h.attached()) continue;
    std::optional<Stop> s = h.wait_for(milliseconds(0));
    if (!s || !s->alive()) continue;  // running, or gone (the process's end is the agent's)
    if (s->kind == StopKind::kSignalDelivery) {
      record_signal(h, *s);
      stop_agent();
      return true;
    }
    if (s->kind == StopKind::kEvent && s->event == PTRACE_EVENT_EXEC) {
      out_.kind = AgentOutcome::Kind::kCrashed, out_.in_helper = true;
      out_.instruction = "execve";
      out_.escaped = "the agent's helper thread replaced the process image (execve)";
      rs_.abandon();
      image_gone_ = true;
      return true;
    }
    if (s->kind == StopKind::kEvent &&
        (s->event == PTRACE_EVENT_FORK || s->event == PTRACE_EVENT_VFORK || s->event == PTRACE_EVENT_CLONE))
    {
      contain_escape(h);
      return true;
    }
    h.resume(PTRACE_CONT);
  }
  return false;
}

// The agent finished: every helper must be gone (the agent joins it first; its
// exit is reported a moment later). One still running, or crashed meanwhile, makes
// the run a crash.
void AgentRun::helpers_ended() {
  for (Task& h : helpers_) {
    while (h.attached()) {
      std::optional<Stop> s = h.wait_for(kHelperExit);
      if (s && !s->alive()) break;
      if (s && s->kind == StopKind::kSignalDelivery) {
        record_signal(h, *s);
        return;
      }
      if (s && s->kind != StopKind::kEvent) {  // a group or interrupt stop on its way out
        h.resume(PTRACE_CONT);
        continue;
      }
      out_.kind = AgentOutcome::Kind::kCrashed, out_.in_helper = true;
      out_.escaped = "the agent finished while its helper thread still ran";
      if (s) out_.rip = h.get_regs().rip;
      return;
    }
  }
}

// A helper failed while the agent ran on: the agent stopped where it is, as after
// its own crash (the caller discards the process).
void AgentRun::stop_agent() {
  if (thread_.stopped()) return;
  thread_.interrupt(milliseconds(10000));
}

// A helper still there when the run ends (crashed, stuck, or the agent hung or
// crashed beside it) is never let go: detached, it would run on in the program —
// a crashed one into the program's own SIGSEGV handler. The process, one the
// caller discards on any failure (AgentRequest::helpers), is killed now and each
// helper's end reaped (the kernel reports the process's end only after that).
void AgentRun::end_helpers() noexcept {
  bool killed = false;
  for (Task& h : helpers_) {
    if (!h.attached()) continue;
    if (!killed) ::kill(pid_, SIGKILL), killed = true;
    try {
      while (h.attached() && h.wait_for(kHelperExit)) {
      }
    } catch (const std::exception&) {
    }
    h.forget();
  }
}

// 6. The results of a finished agent, or where it crashed or hung.
void AgentRun::read_results() {
  if (out_.kind == AgentOutcome::Kind::kFinished) {
    ttst_agent_desc back{};
    read_memory(tid_, base_ + l_.desc, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&back), sizeof back));
    out_.status = back.status;
    for (size_t i = 0; i < 4; ++i) out_.detail[i] = back.detail[i];
    heap_used_ = back.heap_used;
    uint64_t used = std::min<uint64_t>(back.output_used, rq_.output_size);
    out_.output = read_memory(tid_, base_ + l_.output, used);
  } else {
    describe_stop();
    // What the agent wrote so far (its first line may say what it was running:
    // a user transfer plugin's function, stfw_task.h), at most a page of it.
    out_.output = read_memory(tid_, base_ + l_.output, std::min<uint64_t>(rq_.output_size, kPage));
  }
  step("agent.finished", pid_);
}

// The instruction and agent symbol where a crashed or hung agent stopped.
void AgentRun::describe_stop() {
  uint64_t at = out_.rip;
  Instruction ins = decode_remote_instruction(tid_, at);
  // A signal sent by a syscall (abort's tgkill): name that syscall instruction.
  if ((out_.si_code <= 0 && out_.signal) || !out_.escaped.empty()) {
    Instruction prev = decode_remote_instruction(tid_, at - 2);
    if (prev.text == "syscall") ins = prev, at -= 2;
  }
  out_.instruction = ins.text.empty() ? "(unreadable)" : ins.text;
  out_.rip = at;
  if (at >= base_ && at < base_ + image_.span()) out_.symbol = image_.symbolize(at - base_);
}

// 7. Every trace removed: the region unmapped, then registers and mask restored —
//    but a finished run's region when the caller keeps it (keep_region).
void AgentRun::remove() {
  if (rq_.keep_region && out_.kind == AgentOutcome::Kind::kFinished) {
    const uint64_t heap_end = l_.heap + l_.heap_size;
    const uint64_t next = heap_from_ + page_up(std::min(heap_used_, heap_end - heap_from_));
    out_.kept = AgentRegion{base_, l_, next, image_hash_};
    rs_.restore();
    return;
  }
  rs_.call_checked("munmap of the agent region", SYS_munmap, {base_, l_.total, 0, 0, 0, 0});
  rs_.restore();
}

// The thread's ptrace options back to the child defaults (fork/clone tracing off),
// however run_agent ends.
struct OptionsReset {
  Task& t;
  ~OptionsReset() {
    try {
      if (t.attached()) t.set_options(options_child());
    } catch (const std::exception&) {
    }
  }
};

}  // namespace

AgentOutcome run_agent(Task& thread, const AgentRequest& rq, const AgentImage& image) {
  AgentOutcome out;
  RemoteSyscalls rs(thread);
  AgentRun run(thread, rq, image, rs, out);
  try {
    run.map_region();
    run.load();
    run.protect();
    OptionsReset options_reset{thread};
    run.start();
    if (!run.await_outcome()) return out;
    run.read_results();
    run.remove();
  } catch (const TraceeDied&) {
    rs.abandon();
    out.kind = AgentOutcome::Kind::kDied;
  }
  return out;
}

void cure_region(Task& thread, const AgentRegion& region) {
  RemoteSyscalls rs(thread);
  rs.call_checked("munmap of the kept agent region", SYS_munmap, {region.start, region.layout.total, 0, 0, 0, 0});
  rs.restore();
}

}  // namespace ttst::inject
