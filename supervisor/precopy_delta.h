// precopy_delta.h — pre-copy (issue 15): did the past version P change anything of
// its state between the snapshot S forked at its first stop and its second stop?
// TRUSTED: the verdict decides whether F, filled from S while P served, may commit.
//
// At the first stop the supervisor forks two copy-on-write clones of P: S, which
// the forward transfer reads and R is forked from, and K (the key), which nothing
// ever reads or writes, so that its page table keeps P's physical frames as they
// were (a page read from S with process_vm_readv is unshared in S: S's frames move,
// K's do not). At the second stop P is compared with K by the differ
// (diff/differ.h): a page on the same frame in both is unchanged; the others are
// read and compared byte by byte. What is not state is ignored: the main thread's
// stack below its stack pointer (less the 128-byte red zone) and the runtime's
// update_requested word (written by the supervisor, not by P), and the rseq
// fields the kernel writes. Beside memory, P's kernel-side state that the transfer
// carries or relies on is compared as text: the registers of its main thread
// (in a system call at both stops, rax, rcx, r11 and orig_rax aside: the kernel's
// syscall bookkeeping, see facts_changed),
// every descriptor (its target and its /proc fdinfo: flags, offset, epoll
// registrations), the signal mask and dispositions, the umask, cwd and root.
// Anything different is a change: the caller then falls back to the transfer in
// the stop. Nothing here writes P or K.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "diff/differ.h"
#include "inject/sys/proc_maps.h"

namespace ttst::supervisor {

// What of P's kernel-side state the comparison covers, read while P is stopped.
struct PastFacts {
  user_regs_struct regs{};                          // its main thread's
  std::vector<std::pair<int, std::string>> fds;     // number -> target + fdinfo text
  std::string process;                              // signal sets, umask, cwd, root
};

PastFacts read_past_facts(pid_t pid, const user_regs_struct& regs);

// "" when equal; else the first difference, for the report ("descriptor 7 was
// opened", "register rbx changed").
// `locals_followed` (stage 2, which settles the frames' locals again from the
// stop's registers and refuses a changed pointer local): registers that may hold
// locals or a call's arguments differ freely; rip, rsp and the segment state not
// (rip, in a system call at both stops, as syscall_return_pc).
std::string facts_changed(const PastFacts& then, const PastFacts& now, bool locals_followed = false);

// Where a thread stopped in a system call returns to: the pc after its `syscall`,
// also when the stop rewound the call to run again (rax back to its number, rip at
// the instruction: an epoll_wait the interrupt ended with EINTR) — the snapshot's
// P, seized blocked, and the second stop's, driven to that call's entry, compare equal.
uint64_t syscall_return_pc(const user_regs_struct& r);

// Why P's state cannot be pre-copied soundly ("" when it can): a writable shared
// mapping, which P would write under the snapshot's feet (S sees P's writes).
std::string precopy_obstacle(pid_t pid);

using PageRanges = std::vector<std::pair<uint64_t, uint64_t>>;  // [lo, hi), sorted, apart

struct MemoryDelta {
  std::string changed;   // "" when P's memory equals K's in every byte of state
  bool layout = false;   // a mapping added, removed or changed (else only bytes, in place)
  diff::Stats stats;     // the differ's figures (pages on the same frame, read)
  uint64_t bytes = 0;    // bytes that differ (sum of the ranges' lengths)
  uint64_t ranges = 0;   // ranges of differing bytes (pages apart or not)
  PageRanges spans;      // the bytes that differ and a grown heap's new part: what stage 2 transfers again
  // P's bytes of `spans`, back to back (as the differ read them, a grown part read
  // after it): what the forward second run patches in and what is copied into R.
  // Empty when not all could be read, `unread` saying where.
  std::vector<uint8_t> span_bytes;
  std::string unread;
  uint64_t heap_end = 0; // P's brk heap grew, to here (not a layout change for stage 2)
};

// What of P is no state when P is compared with a copy of itself made at the
// snapshot (K, or R in stage 2): `ignored` (the caller's kernel-written fields,
// rseq), the stack below `regs.rsp` - 128 and the 4 bytes of update_requested at
// `runtime_addr` + 16.
diff::Options past_diff_options(pid_t past, const user_regs_struct& regs, uint64_t runtime_addr,
                                std::vector<diff::IgnoredRange> ignored);

// P's memory against K's (past_diff_options). Throws std::runtime_error when
// either process cannot be read (never "unchanged"). `past` may be a round's new
// key K2 (a clone of P, the next key): read plainly (diff::PageReads), its frames
// stay P's and the next comparison finds only what P wrote since.
MemoryDelta memory_changed(pid_t past, pid_t key, const user_regs_struct& regs, uint64_t runtime_addr,
                           std::vector<diff::IgnoredRange> ignored,
                           diff::PageReads past_reads = diff::PageReads::kPinned);

// Spans of a process and its bytes there, back to back (empty: not all read, and
// `unread` says where).
struct ChangedSpans {
  PageRanges spans;
  std::vector<uint8_t> bytes;
  std::string unread;
};

// Stage 2: the bytes of `now` written since `before` was forked from it (never run
// since), by the differ, and its brk heap's grown part, with `now`'s bytes there;
// `left_out`: mappings of either left out (an agent region a second run kept for
// the next). nullopt: the layouts differ otherwise (the first such change in
// *layout_change).
std::optional<ChangedSpans> pages_written(pid_t now, pid_t before, const std::vector<sys::Mapping>& left_out,
                                        std::string* layout_change);

// The pages holding `spans`, page-aligned and merged; how many they are.
PageRanges pages_of(const PageRanges& spans);
uint64_t page_count(const PageRanges& spans);

// The mappings of `pid` inside [lo, hi) (an agent region: code, data, guard, heap).
std::vector<sys::Mapping> mappings_within(pid_t pid, uint64_t lo, uint64_t hi);

// Stage 2: what P changed written into `to` (R, equal to P's snapshot wherever P
// did not change): `d.span_bytes` at `d.spans` (P is not read again). Throws
// std::runtime_error when they could not all be read, or R cannot be written.
void write_changed(pid_t to, const MemoryDelta& d);

}  // namespace ttst::supervisor
