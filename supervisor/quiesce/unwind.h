// unwind.h — the call stack of a stopped thread from DWARF call-frame information
// (.eh_frame), read with libdwarf from each module the stack passes (the program,
// libc, any shared library), never guessed. TRUSTED: the poller rule of the
// quiescence verdict (ttst_abi.h §6, §7) reads its caller frames from here.
//
// Why CFI and not frame pointers: ttst-cc builds the program with frame pointers,
// but the system call is made in libc, which is built without them and may keep
// any value in rbp; only libc's own CFI says where its caller's frame is.
//
// Fail-safe. Only the rules compilers emit for ordinary frames are followed: the
// CFA is rsp or rbp plus a constant; the return address is saved at CFA + N; rbp is
// saved at CFA + N or unchanged. Anything else (no module, no FDE for the pc, a
// DWARF expression, a signal frame, an unreadable word, rbp needed after a rule
// lost it, a CFA that does not grow) ends the unwind with `doubt` saying why; the
// caller then has fewer frames than it needs and the thread is not quiescent.
// Reads the process's memory only (process_vm_readv); modules are opened through
// /proc/PID/map_files, or by path when that is not allowed (not root) and the file
// there still has the mapping's device and inode, so a file replaced on disk is
// never read in its place. A file's call-frame information is parsed once per
// supervisor run and shared by every unwinder (one file: the same device, inode,
// size and modification time): an update of a threaded server unwinds each of its
// threads in P, F and R, and libdwarf's parse of libc's .eh_frame took ~5 ms each
// time (memcached 1.6: ~40 parses, most of the supervisor's CPU in its stop).
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "inject/sys/proc_maps.h"
#include "inject/memory.h"

namespace ttst::quiesce {

// The callee-saved registers (System V x86-64) by DWARF number, as unwound.
inline constexpr int kCalleeSaved[6] = {3, 6, 12, 13, 14, 15};  // rbx rbp r12 r13 r14 r15

struct UnwoundFrame {
  uint64_t pc = 0;   // run-time; frame 0: rip, callers: the return address
  uint64_t rsp = 0;  // the frame's rsp at pc (callers: the CFA of their callee)
  uint64_t cfa = 0;  // the frame's own CFA (0: not known, the last frame)
  // The frame's callee-saved registers at pc (kCalleeSaved order), where the CFI
  // says (saved at CFA + N, or unchanged); bit i of saved_known: saved[i] is known.
  uint64_t saved[6] = {};
  uint8_t saved_known = 0;
  // Where each of those values is: the stack slot an inner frame saved it in, or 0
  // when it is still in the thread's own register (frame 0, or unchanged since).
  uint64_t saved_at[6] = {};
};

class Unwinder {
 public:
  explicit Unwinder(pid_t pid);
  ~Unwinder();
  Unwinder(const Unwinder&) = delete;
  Unwinder& operator=(const Unwinder&) = delete;

  // Frames innermost first, at most `max`. Fewer (and `doubt` set) when a frame
  // could not be unwound; the outermost frame (its return address undefined in
  // the CFI, as _start's, or 0) ends it too, with no doubt.
  std::vector<UnwoundFrame> unwind(const user_regs_struct& regs, size_t max, std::string& doubt);

  // The thread ran since the last unwind (a drive from one system-call stop to the
  // next): the mappings are read again at the next unwind. A mapping seen before
  // (range, offset, device, inode, path) keeps its module without a look at the
  // file, so a drive that classifies every system call does not even open libc at
  // each (a busy server served a request per stop and never reached its wait).
  void forget_maps() { maps_read_ = false; }

  // How many files' call-frame information this process has parsed so far.
  static uint64_t files_parsed();

  struct Module;  // one ELF file's segments and call-frame information (unwind.cc)

 private:
  Module* module_at(uint64_t pc, uint64_t& link_pc, std::string& doubt);
  pid_t pid_;
  bool maps_read_ = false;
  std::vector<sys::Mapping> maps_;  // read once per stop (forget_maps)
  std::map<std::string, std::shared_ptr<Module>> modules_;  // by mapping: range, offset, file
};

}  // namespace ttst::quiesce
