// quiesce.cc — see quiesce.h.
#include "supervisor/quiesce/quiesce.h"

#include <errno.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <span>
#include <stdexcept>
#include <deque>
#include <functional>
#include <optional>
#include <thread>

#include "inject/error.h"
#include "inject/failsafe_frame.h"
#include "inject/memory.h"
#include "inject/registers.h"
#include "inject/sys/proc_maps.h"
#include "supervisor/quiesce/call_sites.h"
#include "supervisor/quiesce/library_function.h"
#include "supervisor/quiesce/unwind.h"
#include "stfw/abi/ttst_abi.h"

namespace ttst::quiesce {
namespace {

constexpr long kSysRestartSyscall = 219;

bool read_mem(pid_t pid, uint64_t addr, void* out, size_t len) {
  return inject::try_read_memory(pid, addr, std::span<uint8_t>(static_cast<uint8_t*>(out), len)) == len;
}

std::string describe(const UpdatePointMap& map, inject::LoadBias bias, inject::RemoteAddr addr) {
  char buf[64];
  if (const Function* f = map.function_at(addr - bias)) {
    snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>((addr - bias).value() - f->lo));
    return f->name + buf;
  }
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(addr.value()));
  return buf;
}

// True when `addr` is a run-time address in the program's text.
bool in_program_text(const UpdatePointMap& map, inject::LoadBias bias, inject::RemoteAddr addr) {
  return addr.value() > bias.value() && map.in_text(addr - bias);
}

}  // namespace

inject::RemoteAddr innermost_program_return(pid_t pid, const UpdatePointMap& map, inject::LoadBias bias,
                                            inject::RemoteAddr rsp, uint64_t* slot) {
  uint64_t words[512];
  std::span<uint8_t> bytes(reinterpret_cast<uint8_t*>(words), sizeof words);
  size_t n = inject::try_read_memory(pid, rsp, bytes) / 8;
  for (size_t i = 0; i < n; i++) {
    if (!in_program_text(map, bias, inject::RemoteAddr(words[i]))) continue;
    CallCheck c = call_ends_at(pid, map, bias, inject::RemoteAddr(words[i]));  // call_sites.h
    if (c == CallCheck::kUnknown) break;  // cannot tell: no innermost frame, so never quiescent
    if (c == CallCheck::kCall) {
      if (slot) *slot = rsp.value() + 8 * i;
      return inject::RemoteAddr(words[i]);
    }
  }
  return inject::RemoteAddr();
}

namespace {

// The library part of a library poller path (ttst_abi.h §7): the frames inside
// the first program frame `first` are a run of libc frames (the system-call
// wrapper; none when the library is libc), then a run of frames in the one
// library that exports `fn`, the outermost of them in `fn` itself: the library's
// entry from the program is `fn`, and no program frame (a callback) lies between.
bool library_frames_match(pid_t pid, const std::vector<UnwoundFrame>& frames, size_t first,
                          const std::vector<sys::Mapping>& maps, const std::string& exe, const std::string& fn,
                          std::string& why) {
  LibraryFunction lib;
  if (!find_library_function(pid, maps, exe, fn, lib, why)) return false;
  auto file_of = [&](uint64_t pc) -> std::string {
    for (const sys::Mapping& m : maps)
      if (m.contains(pc)) return m.path;
    return "";
  };
  size_t i = 0;
  while (i < first && file_of(frames[i].pc) != lib.file && is_libc(file_of(frames[i].pc))) i++;
  const size_t lib_first = i;
  while (i < first && file_of(frames[i].pc) == lib.file) i++;
  if (i != first || lib_first == first) {
    why = "the frames below the program are not " + fn + "'s library only (" + lib.file + ")";
    return false;
  }
  // A caller's pc is a return address: the instruction it is in ends just before.
  const uint64_t outer = frames[first - 1].pc - (first - 1 > 0 ? 1 : 0);
  if (outer < lib.lo || outer >= lib.hi) {
    why = "the program's call into " + lib.file + " did not enter it through " + fn;
    return false;
  }
  return true;
}

// The poller rule (ttst_abi.h §6, §7): true when the call stack of the thread,
// unwound by CFI, is exactly a declared poller path up to an update point's
// function instance. `frame_ret`/`frame_slot`: the innermost program frame the
// stack scan found (null: rip is in the program, or `in_program` false: none
// found), `site` its call site. `why` says what did not match. `proved`: on a match
// through a library, the return address of the program frame the unwind proved
// (the scan's frame may be a stale word inside the library's frames).
bool on_poller_path(Unwinder& unwinder, pid_t pid, const user_regs_struct& g, const UpdatePointMap& map,
                    inject::LoadBias bias, bool in_program, inject::RemoteAddr frame_ret, uint64_t frame_slot, inject::LinkAddr site,
                    std::string& why, inject::RemoteAddr& proved) {
  size_t longest = 0;
  for (const auto& path : map.poller_paths()) longest = std::max(longest, path.size());
  std::string doubt;
  const std::vector<UnwoundFrame> frames = unwinder.unwind(g, 64, doubt);
  size_t first = 0;
  while (first < frames.size() && !in_program_text(map, bias, inject::RemoteAddr(frames[first].pc))) first++;
  // Program paths: the unwind and the stack scan agree on the innermost program
  // frame. Library paths rely on the unwind alone: the library's frames may hold
  // stale return addresses into the program (a callback's), which the scan finds first.
  const bool agrees = in_program && first < frames.size() &&
                      (frame_ret.is_null() ? first == 0
                                           : frames[first].pc == frame_ret.value() && frames[first].rsp == frame_slot + 8);
  if (first == frames.size()) {
    why = "the call-frame unwind finds no program frame" + (doubt.empty() ? std::string() : " (" + doubt + ")");
    return false;
  }
  // The function instances around each program frame's call site, innermost first.
  std::vector<const Scope*> chain;
  const Function* callee = nullptr;  // the ELF function of the frame below
  for (size_t i = first; i < frames.size() && chain.size() <= longest; i++) {
    const inject::RemoteAddr pc(frames[i].pc);
    if (!in_program_text(map, bias, pc)) break;  // a library frame between: the chain ends
    const inject::LinkAddr at = i == 0 ? site : pc - bias - 1;
    uint64_t target = 0;
    if (i > 0 && call_ends_at(pid, map, bias, pc, &target) != CallCheck::kCall) {
      why = "the caller frame at " + describe(map, bias, pc) + " does not follow a call instruction";
      return false;
    }
    // A direct call must call the function found below it (none: a library, via
    // the PLT): else a function it called left the stack by a tail call (ttst-cc
    // forbids them; a build that turns them back on is caught here for direct calls).
    if (i > 0 && target != 0 && map.function_at(inject::LinkAddr(target)) != callee) {
      why = "the call at " + describe(map, bias, pc) + " does not call the function of the frame below it (a tail call?)";
      return false;
    }
    callee = map.function_at(at);
    const std::vector<const Scope*> here = map.scope_chain(at);
    if (here.empty()) {
      why = "no DWARF function instance around " + describe(map, bias, pc);
      return false;
    }
    chain.insert(chain.end(), here.begin(), here.end());
  }
  std::vector<sys::Mapping> maps;
  std::string exe, lib_why;
  bool disagreed = false;
  for (size_t p = 0; p < map.poller_origins().size(); p++) {
    const auto& path = map.poller_origins()[p];
    const std::string& lib_fn = map.poller_library_function()[p];
    const size_t k = path.size();
    bool match = chain.size() > k && map.is_upoint_instance(*chain[k]);
    for (size_t i = 0; match && i < k; i++) match = chain[i]->origin == path[k - 1 - i];
    if (match && lib_fn.empty() && agrees) return true;
    disagreed = disagreed || (match && lib_fn.empty());
    if (!match || lib_fn.empty()) continue;
    if (maps.empty()) {
      maps = sys::read_maps(pid);
      char buf[4096];
      const ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf - 1);
      exe.assign(buf, n > 0 ? static_cast<size_t>(n) : 0);
    }
    if (library_frames_match(pid, frames, first, maps, exe, lib_fn, lib_why))
      return proved = inject::RemoteAddr(frames[first].pc), true;
  }
  std::string seen;
  for (const Scope* s : chain) seen += (seen.empty() ? "" : " <- ") + s->name;
  const std::string doubt_note = doubt.empty() ? std::string() : " (" + doubt + ")";
  why = !lib_why.empty() ? lib_why
        : disagreed      ? "the call-frame unwind does not find the innermost program frame the stack scan found" + doubt_note
                         : "its call stack (" + seen + ") is no declared poller path" + doubt_note;
  return false;
}

ThreadVerdict classify_regs(Unwinder& unwinder, const user_regs_struct& g, pid_t tid, pid_t pid,
                            const UpdatePointMap& map, inject::LoadBias bias, inject::RemoteAddr rt) {
  ThreadVerdict r;
  r.tid = tid;
  long nr = static_cast<long>(g.orig_rax);
  long rax = static_cast<long>(g.rax);
  if (rt.is_null() ? at_any_marker(g) : at_marker(g, rt)) {
    const inject::RemoteAddr upoint(g.r10);
    r.state = ThreadState::kAtUpdatePoint;
    r.where = "at the update point in " + describe(map, bias, upoint);
    if (const Function* f = map.function_at(upoint - bias)) r.function = f->name;
    return r;
  }

  // Innermost program frame: rip itself, or the first return address into the
  // executable found in the 4 KiB at and above rsp.
  const inject::RemoteAddr rip(g.rip), rsp(g.rsp);
  inject::RemoteAddr frame_ret;  // the return address found, null if rip is in the program
  uint64_t frame_slot = 0;       // where on the stack it was found
  bool in_program = in_program_text(map, bias, rip);
  if (!in_program) {
    frame_ret = innermost_program_return(pid, map, bias, rsp, &frame_slot);
    in_program = !frame_ret.is_null();
  }

  // The chain of callers through the frame pointers, for the message.
  std::string chain;
  uint64_t fp = g.rbp;
  for (int depth = 0; depth < 8 && fp > g.rsp && fp - g.rsp < (64u << 20); depth++) {
    uint64_t frame[2];
    if (!read_mem(pid, fp, frame, sizeof frame)) break;
    if (!in_program_text(map, bias, inject::RemoteAddr(frame[1]))) break;
    chain += " <- " + describe(map, bias, inject::RemoteAddr(frame[1]));
    if (frame[0] <= fp) break;
    fp = frame[0];
  }

  // In a system call: interrupted with a restart code, or on its way back into it
  // (rip at `syscall`, rax set up for it: the kernel's restart, or inject::Task's
  // for an epoll_wait the interrupt ended with EINTR).
  bool restarting = nr >= 0 && (rax == nr || rax == kSysRestartSyscall) && is_syscall_at(pid, rip);
  bool in_syscall = restarting || (nr >= 0 && inject::is_restart_code(rax));
  // The call site: the call instruction's last byte, or the `syscall` itself.
  const inject::LinkAddr site = (!frame_ret.is_null() ? frame_ret - 1 : rip - (restarting ? 0 : 1)) - bias;
  std::string at = in_program ? describe(map, bias, !frame_ret.is_null() ? frame_ret : rip) : "outside the program";
  if (const Function* f = in_program ? map.function_at(site) : nullptr) r.function = f->name;
  if (const Scope* s = in_program ? map.scope_at(site) : nullptr; s && s->depth > 0) at += " (inlined " + s->name + ")";
  if (!in_syscall) {
    r.state = ThreadState::kRunning;
    // In the program's text but in no function (a PLT stub on its way to libc):
    // named by the program frame that called it, for the message only.
    if (in_program && frame_ret.is_null() && !map.function_at(rip - bias))
      if (const inject::RemoteAddr ret = innermost_program_return(pid, map, bias, rsp, nullptr); !ret.is_null())
        at = "a stub called from " + describe(map, bias, ret) + " (" + at + ")";
    r.where = "running in " + at + chain;
    return r;
  }
  r.where = std::string(syscall_name(nr)) + "() called from " + at + chain;
  r.state = in_program && map.in_upoint_scope(site) ? ThreadState::kQuiescent : ThreadState::kBlocked;
  if (!map.scopes_complete()) r.where += " (no readable DWARF function ranges)";
  if (r.state == ThreadState::kBlocked && map.scopes_complete() && !map.poller_paths().empty()) {
    std::string why;
    inject::RemoteAddr proved;
    if (on_poller_path(unwinder, pid, g, map, bias, in_program, frame_ret, frame_slot, site, why, proved)) {
      r.state = ThreadState::kQuiescent;
      if (!proved.is_null() && proved != frame_ret) {  // name the proved frame, not a stale word
        const Function* f = map.function_at(proved - bias - 1);
        r.function = f ? f->name : "";
        r.where = std::string(syscall_name(nr)) + "() called from " + describe(map, bias, proved);
      }
      r.where += " (a declared poller path)";
    } else {
      r.where += " (" + why + ")";
    }
  }
  if (map.pollers_malformed()) r.where += " (a malformed .ttst.pollers record was ignored)";
  if (!map.pollers_unresolved().empty()) r.where += " (poller path ignored: " + map.pollers_unresolved() + ")";
  return r;
}

// At the syscall-entry stop of a call (rax -ENOSYS, rip past the `syscall`): the
// verdict the rule gives the thread once blocked in that call, its registers
// pointed back at the `syscall` as for a call to re-run (inject::resume_context);
// kRunning when the stop is no syscall entry. `unwinder`: the drive's, its modules
// kept from stop to stop (its mappings read again here).
ThreadVerdict classify_entering(Unwinder& unwinder, const user_regs_struct& g, pid_t tid, pid_t pid,
                                const UpdatePointMap& map, inject::LoadBias bias, inject::RemoteAddr rt) {
  if (static_cast<int64_t>(g.orig_rax) < 0 || static_cast<int64_t>(g.rax) != -ENOSYS) {
    ThreadVerdict running;
    running.tid = tid;
    return running;
  }
  unwinder.forget_maps();
  return classify_regs(unwinder, inject::resume_context(g, /*at_syscall_entry=*/true), tid, pid, map, bias, rt);
}

// The start function of thread `tid` (not the main thread): the outermost frame in
// the program of its call-frame unwind, taken only when the unwind went on past it
// into a library (libc's start_thread, which called it), and the unwind reached the
// thread's first frame without a doubt; "" otherwise.
std::string start_function(Unwinder& unwinder, inject::Task& t, const UpdatePointMap& map, inject::LoadBias bias) {
  std::string doubt;
  const std::vector<UnwoundFrame> frames = unwinder.unwind(t.get_regs(), 256, doubt);
  if (!doubt.empty()) return "";
  for (size_t i = frames.size(); i-- > 1;) {
    const inject::RemoteAddr pc(frames[i - 1].pc);
    if (in_program_text(map, bias, inject::RemoteAddr(frames[i].pc)) || !in_program_text(map, bias, pc)) continue;
    const Function* f = map.function_at(pc - bias - (i - 1 > 0 ? 1 : 0));  // a caller's pc: its call ends there
    return f ? f->name : "";
  }
  return "";
}

}  // namespace

std::string thread_label(const ThreadVerdict& t) {
  return "thread " + std::to_string(t.tid) + (t.start.empty() ? "" : " (" + t.start + ")");
}

bool at_any_marker(const user_regs_struct& r) {
  return r.orig_rax == TTST_MARKER_SYSCALL && r.rdi == TTST_MARKER_MAGIC && static_cast<int64_t>(r.rax) == -ENOSYS;
}

bool at_marker(const user_regs_struct& r, inject::RemoteAddr runtime) {
  return at_any_marker(r) && r.rsi == runtime.value();
}

const char* state_name(ThreadState s) {
  switch (s) {
    case ThreadState::kAtUpdatePoint: return "at update point";
    case ThreadState::kQuiescent: return "quiescent";
    case ThreadState::kBlocked: return "blocked";
    case ThreadState::kRunning: return "running";
  }
  return "?";
}

const char* syscall_name(long nr) {
  switch (nr) {
    case 0: return "read";
    case 1: return "write";
    case 7: return "poll";
    case 19: return "readv";
    case 23: return "select";
    case 34: return "pause";
    case 35: return "nanosleep";
    case 43: return "accept";
    case 45: return "recvfrom";
    case 47: return "recvmsg";
    case 61: return "wait4";
    case 110: return "getppid";
    case 202: return "futex";
    case 230: return "clock_nanosleep";
    case 232: return "epoll_wait";
    case 270: return "pselect6";
    case 271: return "ppoll";
    case 281: return "epoll_pwait";
    case 288: return "accept4";
    case 441: return "epoll_pwait2";
    default: return "syscall";
  }
}

inject::LoadBias load_bias(pid_t pid, const UpdatePointMap& map) {
  if (!map.is_pie()) return inject::LoadBias();
  char exe[4096];
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  ssize_t n = readlink(link.c_str(), exe, sizeof exe - 1);
  if (n <= 0) throw std::runtime_error("cannot read " + link + ": " + strerror(errno));
  exe[n] = 0;
  uint64_t lowest = UINT64_MAX;
  for (const sys::Mapping& m : sys::read_maps(pid))
    if (m.path == exe) lowest = std::min(lowest, m.start);
  if (lowest == UINT64_MAX) throw std::runtime_error(std::string("no mapping of ") + exe + " in process " + std::to_string(pid));
  return inject::LoadBias::between(map.first_load_vaddr(), inject::RemoteAddr(lowest));
}

Verdict classify(inject::SeizedProcess& p, const UpdatePointMap& map) {
  std::deque<inject::Task*> threads;
  for (inject::Task& t : p.threads()) threads.push_back(&t);
  return classify(p.pid(), threads, map);
}

Verdict classify(pid_t pid, const std::deque<inject::Task*>& threads, const UpdatePointMap& map) {
  const inject::LoadBias bias = load_bias(pid, map);
  const inject::RemoteAddr rt = map.runtime_symbol().is_null() ? inject::RemoteAddr() : map.runtime_symbol() + bias;
  Verdict rep;
  rep.quiescent = true;
  // One unwinder for every thread: they share the mappings, stopped meanwhile, so
  // each module's call-frame information is loaded once (with libdwarf: 3-6 ms for
  // libc, per thread before; memcached 1.6 has ten).
  Unwinder unwinder(pid);
  for (inject::Task* tp : threads) {
    inject::Task& t = *tp;
    ThreadVerdict r = classify_regs(unwinder, t.get_regs(), t.tid(), pid, map, bias, rt);
    r.start = t.tid() == pid ? "main" : start_function(unwinder, t, map, bias);
    if (r.state != ThreadState::kQuiescent && r.state != ThreadState::kAtUpdatePoint && rep.quiescent) {
      rep.quiescent = false;
      rep.message = (threads.size() > 1 ? thread_label(r) : "thread " + std::to_string(r.tid)) + " is " +
                    state_name(r.state) + ": " + r.where +
                    (r.state == ThreadState::kBlocked ? " (no update point there)" : "");
    }
    rep.threads.push_back(std::move(r));
  }
  if (rep.quiescent)
    rep.message = "all " + std::to_string(rep.threads.size()) + " thread(s) quiescent";
  return rep;
}

Verdict check(pid_t pid, const UpdatePointMap& map) {
  inject::SeizedProcess p = inject::SeizedProcess::seize(pid);
  return classify(p, map);  // `p` goes out of scope: every thread is let go as it was
}

Verdict check_within(pid_t pid, const UpdatePointMap& map, std::chrono::milliseconds bound,
                     std::chrono::milliseconds interval) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    Verdict r = check(pid, map);
    if (r.quiescent || std::chrono::steady_clock::now() + interval > deadline) {
      if (!r.quiescent)
        r.message += " — still so after " + std::to_string(bound.count()) +
                     " ms; the update is refused: retry when the program is idle";
      return r;
    }
    std::this_thread::sleep_for(interval);
  }
}

namespace {

// P's main thread run under PTRACE_SYSCALL until `there` says a syscall stop is
// where it should stay (stopped there: true), or `bound` runs out: false, the
// thread stopped again without its program seeing it — Task::interrupt points a
// call the stop ends with EINTR (epoll_wait, rt_sigtimedwait...; its syscall-exit
// stop comes first under PTRACE_SYSCALL) back at its `syscall` — and `where`
// saying where it was. Throws inject::TraceeDied ("the program ... `doing`") if P
// ends meanwhile.
bool drive_until(inject::SeizedProcess& past, const std::function<bool(const user_regs_struct&)>& there,
                 std::chrono::milliseconds bound, std::string& where, const char* doing) {
  inject::Task& t = past.main_thread();
  long stops = 0;
  auto s = t.run_to_syscall(
      [&](const user_regs_struct& r) {
        ++stops;
        return there(r);
      },
      bound, [&](const inject::Stop&) { ++stops; });
  if (s && !s->alive()) throw inject::TraceeDied("the program " + s->describe() + " " + doing);
  if (s) return true;
  t.interrupt(std::chrono::milliseconds(1000));
  const user_regs_struct r = t.get_regs();
  char buf[160];
  std::snprintf(buf, sizeof buf, "last in %s() at pc 0x%llx after %ld system-call stops",
                syscall_name(static_cast<long>(r.orig_rax)), static_cast<unsigned long long>(r.rip), stops);
  where = buf;
  return false;
}

}  // namespace

bool drive_to_update_point(inject::SeizedProcess& past, const RemoteRuntimeBlock& runtime,
                           std::chrono::milliseconds bound, std::string& where, const UpdatePointMap* wait_map,
                           bool* entered_wait) {
  inject::Task& t = past.main_thread();
  long markers = 0, renewed = 0;
  std::optional<inject::LoadBias> bias;
  if (wait_map) bias = load_bias(past.pid(), *wait_map);
  if (entered_wait) *entered_wait = false;
  Unwinder unwinder(t.tid());
  runtime.set_update_requested(1);
  const bool there = drive_until(
      past,
      [&](const user_regs_struct& r) {
        markers += r.orig_rax == TTST_MARKER_SYSCALL;
        if (at_marker(r, runtime.address())) return true;
        if (wait_map && classify_entering(unwinder, r, t.tid(), past.pid(), *wait_map, *bias, runtime.address()).state ==
                            ThreadState::kQuiescent) {
          if (entered_wait) *entered_wait = true;
          return true;
        }
        // P seized inside its update point after an earlier request's marker
        // (released there, then not scheduled before this seizure) clears the flag
        // on its way out: asked again, its next update point stops.
        uint32_t flag = 1;
        if (runtime.read_update_requested(flag) && flag == 0) runtime.set_update_requested(1), ++renewed;
        return false;
      },
      bound, where, "while being stopped at its update point");
  if (there) {
    if (entered_wait && *entered_wait) runtime.set_update_requested(0);  // at no update point: withdrawn
    return true;
  }
  uint32_t flag = 0;
  runtime.read_update_requested(flag);
  runtime.set_update_requested(0);
  char buf[96];
  std::snprintf(buf, sizeof buf, ", %ld getppid, flag %u, asked again %ld times", markers, flag, renewed);
  where += buf;
  return false;
}

bool drive_to_call_entry(inject::SeizedProcess& past, const CallEntry& at, std::chrono::milliseconds bound,
                         std::string& where) {
  return drive_until(
      past,
      [&](const user_regs_struct& r) {
        return static_cast<long>(r.orig_rax) == at.nr && static_cast<int64_t>(r.rax) == -ENOSYS && r.rsp == at.sp &&
               r.rip == at.pc;
      },
      bound, where, "while being driven to the call it waits in");
}

bool drive_to_quiescent_wait(inject::SeizedProcess& past, const UpdatePointMap& map, std::chrono::milliseconds bound,
                             std::string& where) {
  const inject::LoadBias bias = load_bias(past.pid(), map);
  const inject::RemoteAddr rt = map.runtime_symbol().is_null() ? inject::RemoteAddr() : map.runtime_symbol() + bias;
  inject::Task& t = past.main_thread();
  Unwinder unwinder(t.tid());
  return drive_until(
      past,
      [&](const user_regs_struct& r) {
        return classify_entering(unwinder, r, t.tid(), past.pid(), map, bias, rt).state == ThreadState::kQuiescent;
      },
      bound, where, "while being driven to its loop's wait");
}

}  // namespace ttst::quiesce
