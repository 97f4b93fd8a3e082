// quiesce.h — is a ttst program quiescent, and if not, the stop protocol that
// brings it to an update point (ttst_abi.h §4, §6). TRUSTED.
//
// classify() is the one rule, applied to a process already seized and stopped with
// inject::SeizedProcess (no signal; an epoll_wait the interrupt cut short is
// pointed back at its `syscall` by inject::Task). It reads registers and memory
// only. The transaction applies it to its own seizure of P; check() is the
// stand-alone read-only probe (seize, classify, let every thread go as it was).
//
// The rule. A thread is AT AN UPDATE POINT in the marker stop of §4. It is
// QUIESCENT when it is blocked in a system call (interrupted with a restart code,
// or pointed back at its `syscall` instruction) and the call was made by the own
// code of a function instance holding an update point: the innermost function
// instance (upoint_map.h: out-of-line function or inlined copy, from DWARF) around
// the call site — the return address of the innermost program frame minus one, or
// the `syscall` instruction itself when it is in the program — is the innermost
// instance around one of the update points. Otherwise it is BLOCKED (mid-request)
// or RUNNING.
//
// Why this is sound where "the ELF function around the return address holds an
// update point" is not: at -O2 a handler inlined into the loop function shares its
// symbol, so a handler's write() blocked on a full socket looked like the loop
// waiting for the next event. Its call instruction lies in the handler's inlined
// copy, a different instance than the update point's, so it is not quiescent now;
// and a loop function itself inlined into main (static, called once) still matches,
// because its update point and its blocking call lie in the same inlined copy. The
// rule is the source-level contract of ttst.h, as if nothing were inlined: a
// function holding TTST_UPDATE_POINT() is an event loop, a blocking call written in
// its own body waits for the next event, one in any function it calls (inlined or
// not) is mid-request. Missing or unreadable DWARF makes nothing quiescent (such a
// program is driven to its update point instead), never the reverse.
// The rule trusts DWARF to put each call instruction in one instance. Compilers
// may merge identical code of two instances into one (gcc cross-jumping turned the
// loop's read(0, &c, 1) and an inlined handler's identical call into one call
// attributed to the loop; clang's tail merging did the same with line 0; gcc's
// identical-function folding gave pollprog's handle_tail the body and DWARF of
// handle_request): ttst-cc turns those passes off, and qprog's "inlined" mode and
// pollprog's "tail" mode test exactly those cases.
// The innermost program frame is found by scanning the stack from rsp for the
// first return address into the program (ttst_abi.h §6): a word that the
// instruction before it, decoded forward from its function's entry, shows to be a
// call (call_sites.h); a word it cannot decide ends the scan, and the thread is then
// not quiescent. The libc wrapper frames below it are the only place a stale return
// address could precede it.
//
// Threads. The rule is applied to each thread of P on its own; P is quiescent
// when every thread is at an update point or quiescent. Each kind of thread has its
// loop and update point (a worker's event loop, a timer's nanosleep loop, a job
// thread's pthread_cond_wait loop: the wait is written in the loop's own body, the
// futex call inside libc is reached from there). Busy threads are driven together
// while the others stay stopped (drive_threads.h). A thread is named by its tid and
// start function (ThreadVerdict::start, thread_label), found by the CFI unwind.
//
// Pollers (ttst_abi.h §7). An event loop whose blocking call sits in a helper
// (nginx: the update point in ngx_single_process_cycle, epoll_wait in
// ngx_epoll_process_events, reached through ngx_process_events_and_timers and the
// function pointer ngx_event_actions.process_events) is BLOCKED by the rule above
// even when idle. The program may declare the path f1 -> ... -> fn (TTST_POLLER in
// ttst.h, or ttst-cc's TTST_POLLER variable); a blocked thread is then QUIESCENT
// when its whole stack proves that path, checked, never assumed:
//  - the stack is unwound by DWARF CFI (unwind.h: .eh_frame of libc and of the
//    program, only rsp/rbp + N rules; anything else is a doubt, and a doubt is
//    "not quiescent"); frame pointers are not used, since libc may hold anything in
//    rbp while it blocks;
//  - the unwind's innermost program frame is the one the stack scan found (same
//    return address in the same stack slot): two methods agree;
//  - every caller frame's return address follows a call instruction (call_sites.h);
//  - the function instances around the call sites, inlined copies included,
//    innermost first, are exactly fn, ..., f1, then an instance holding an update
//    point. Functions are compared by identity (the DWARF origin every instance of
//    one function leads to), so a static function of the same name elsewhere never
//    matches; a name that no function or several functions carry drops the path.
// So the same blocking call reached from a request handler (through the same
// function pointer, called by the loop or by f1, or inlined into f1) adds an
// instance to the stack and stays BLOCKED. A tail call leaves no frame, so ttst-cc
// builds with -fno-optimize-sibling-calls: a handler cannot leave the stack by
// tail-calling the poller. The declaration is the user's promise that every
// blocking call in fn's own code, on that path, is the wait for the next event, as
// TTST_UPDATE_POINT() promises it for its own function.
//
// Library pollers (ttst_abi.h §7). The last name of a path may be a function the
// program imports (memcached 1.2: main -> event_base_loop, libevent's loop, ->
// epoll_dispatch (static) -> epoll_wait). The frames inside the first program frame
// must then be a run of libc frames, then frames of the one mapped library whose
// .dynsym exports the name (library_function.h), the outermost inside that
// function; the program frames from there match the rest of the path as above.
// These stacks are proved by the CFI unwind alone: the library's frames may hold
// stale return addresses into the program (a callback's), which the stack scan
// finds first, so the two methods need not agree there. The call into the library
// must follow a call instruction whose direct target (if any) is no program
// function (the PLT), so a program function that tail-jumped into the library is
// not taken for the caller. A thread so proved is named (ThreadVerdict::function,
// where) by the program frame the unwind proved, not by the scan's word.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "inject/process.h"
#include "inject/remote_addr.h"
#include "supervisor/quiesce/runtime_block.h"
#include "supervisor/quiesce/upoint_map.h"

namespace ttst::quiesce {

enum class ThreadState {
  kAtUpdatePoint,  // in the marker system call of ttst_abi.h §4
  kQuiescent,      // blocked in a system call made by an update point's own function,
                   // or by a declared poller on its declared path
  kBlocked,        // blocked in a system call anywhere else (mid-request)
  kRunning,        // executing, or its system call already completed
};

const char* state_name(ThreadState s);

// What the rule found for one thread.
struct ThreadVerdict {
  pid_t tid = 0;
  ThreadState state = ThreadState::kRunning;
  std::string function;       // innermost program function ("" if none found)
  std::string where;          // one line: "read() called from handle_request+0x2a <- event_loop <- main"
  std::string start;          // the thread's start function: "main" for the main thread; for
                              // another, the outermost program frame of its CFI unwind when
                              // a library frame (libc's start_thread) lies beyond it; else ""
};

// "thread TID (START)", or "thread TID" when its start function is not known: how
// messages name a thread (a tid alone means nothing once the process has ended).
std::string thread_label(const ThreadVerdict& t);

// What the rule found for a process.
struct Verdict {
  bool quiescent = false;     // every thread kAtUpdatePoint or kQuiescent
  std::vector<ThreadVerdict> threads;
  std::string message;        // one line for a sysadmin
};

// Load bias of the executable of `pid` (0 for non-PIE). Throws std::runtime_error.
inject::LoadBias load_bias(pid_t pid, const UpdatePointMap& map);

// True in the syscall-entry stop of the §4 marker of the runtime block at `runtime`
// (its run-time address), or of any runtime block.
bool at_marker(const user_regs_struct& r, inject::RemoteAddr runtime);
bool at_any_marker(const user_regs_struct& r);

// The rule, for every thread of a seized process.
Verdict classify(inject::SeizedProcess& process, const UpdatePointMap& map);
// The same rule for some stopped threads of process `pid` (F's own threads, issue 19).
Verdict classify(pid_t pid, const std::deque<inject::Task*>& threads, const UpdatePointMap& map);

// The probe: seize, classify, release. Throws std::runtime_error (one line) when
// the process cannot be traced (gone, permission, already traced).
Verdict check(pid_t pid, const UpdatePointMap& map);

// Re-runs check() every `interval` until the program is quiescent or `bound`
// has passed; returns the last verdict (its message says where a thread was
// blocked or running when the bound ran out).
Verdict check_within(pid_t pid, const UpdatePointMap& map, std::chrono::milliseconds bound,
                     std::chrono::milliseconds interval = std::chrono::milliseconds(5));

// The stop protocol of §4 for a P that is not quiescent: update_requested = 1 in
// `runtime` (P's runtime block), its (only) thread run with PTRACE_SYSCALL to the
// marker's entry stop; the flag asked again at a system-call stop where P has
// cleared it (seized inside its update point, past an earlier marker: pre-copy's
// second stop releases P at its marker and seizes it again). False (the flag
// written back to 0, the thread stopped again, `where` saying where it was) when
// `bound` runs out first. Stopped again without
// its program seeing it: an epoll_wait that the stop cuts short with EINTR (its
// syscall-exit stop comes first under PTRACE_SYSCALL) is pointed back at its
// `syscall`, as the probe does, and re-runs when released. Throws
// inject::TraceeDied if P ends meanwhile.
// With `wait_map` (the grace period judging F), the drive also ends, true and
// *entered_wait set, at the entry stop of a system call the rule makes QUIESCENT
// (the loop's own wait): a thread seized between its update point and that wait
// enters the wait before any update point, and an idle server then waits there
// forever, idle, not hung. The thread stays stopped at that entry, the request
// withdrawn (update_requested 0); released, it makes the call.
bool drive_to_update_point(inject::SeizedProcess& past, const RemoteRuntimeBlock& runtime,
                           std::chrono::milliseconds bound, std::string& where,
                           const UpdatePointMap* wait_map = nullptr, bool* entered_wait = nullptr);

// One system call's entry at one place of the program: call `nr` made by the
// `syscall` instruction that ends at `pc`, with the stack pointer `sp` (where a
// pre-copy snapshot found P blocked between two requests).
struct CallEntry {
  long nr = -1;
  uint64_t sp = 0, pc = 0;
};

// Pre-copy's second stop, for a P found RUNNING (mid-request, so not quiescent:
// the stop protocol may drive it): its (only) thread run with PTRACE_SYSCALL,
// nothing written to it (no update_requested), to the entry stop of `at` — the
// snapshot's wait, entered again once the request is served — and left stopped
// there; released, it makes the call. Never for a quiescent P (driving one is
// observable: README "Pre-copy"). False (the thread stopped again as
// drive_to_update_point leaves it, `where` saying where it was) when `bound` runs
// out first; throws inject::TraceeDied if P ends meanwhile.
bool drive_to_call_entry(inject::SeizedProcess& past, const CallEntry& at, std::chrono::milliseconds bound,
                         std::string& where);

// Pre-copy's first stop, for a P found RUNNING: as drive_to_call_entry, to the
// entry stop of the first system call the rule makes QUIESCENT (its loop's own
// wait, classify_entering) — the place an idle P would be found, which the second
// stop can find again — not to its update point's marker (no update_requested
// written: P passes its marker as when nobody asks).
bool drive_to_quiescent_wait(inject::SeizedProcess& past, const UpdatePointMap& map, std::chrono::milliseconds bound,
                             std::string& where);

const char* syscall_name(long nr);

// The innermost frame of the program in a thread stopped outside it (in a library,
// the vDSO): the first word in the 4 KiB at and above `rsp` that is a return
// address into the program (the instruction ending there is a call, decoded by
// call_sites.h); null when there is none, or when a word cannot be told apart
// (call_ends_at's kUnknown) before one is found. `slot`, when given, receives
// the stack address the return address was found at.
inject::RemoteAddr innermost_program_return(pid_t pid, const UpdatePointMap& map, inject::LoadBias bias,
                                            inject::RemoteAddr rsp, uint64_t* slot = nullptr);

}  // namespace ttst::quiesce
