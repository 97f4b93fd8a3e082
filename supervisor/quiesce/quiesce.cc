// quiesce.cc — see quiesce.h. One RAII class per kernel concept: SeizedThread
// owns one ptrace seizure and undoes it (restart fix-up, detach, pending signal
// re-delivered) whatever happens.
#include "supervisor/quiesce/quiesce.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "stfw/runtime/ttst_abi.h"

namespace ttst::quiesce {
namespace {

constexpr long kERESTARTSYS = -512, kERESTARTNOINTR = -513, kERESTARTNOHAND = -514,
               kERESTART_RESTARTBLOCK = -516, kSysRestartSyscall = 219;

bool read_mem(pid_t pid, uint64_t addr, void* out, size_t len) {
  iovec local{out, len}, remote{reinterpret_cast<void*>(addr), len};
  return process_vm_readv(pid, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

std::vector<pid_t> list_threads(pid_t pid) {
  std::vector<pid_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) throw std::runtime_error("process " + std::to_string(pid) + " does not exist (or /proc is not readable)");
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') out.push_back(static_cast<pid_t>(atoi(e->d_name)));
  closedir(d);
  return out;
}

// Signals pending for `tid` and not blocked by it (SigPnd | ShdPnd) & ~SigBlk.
uint64_t deliverable_signals(pid_t pid, pid_t tid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/status");
  std::string line;
  uint64_t pnd = 0, blk = 0;
  while (std::getline(in, line)) {
    if (line.rfind("SigPnd:", 0) == 0 || line.rfind("ShdPnd:", 0) == 0)
      pnd |= std::stoull(line.substr(7), nullptr, 16);
    else if (line.rfind("SigBlk:", 0) == 0)
      blk = std::stoull(line.substr(7), nullptr, 16);
  }
  return pnd & ~blk;
}

class SeizedThread {
 public:
  SeizedThread(pid_t pid, pid_t tid) : pid_(pid), tid_(tid) {
    if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
      if (errno == ESRCH) { gone_ = true; return; }
      throw std::runtime_error("cannot trace thread " + std::to_string(tid) + ": " + strerror(errno) +
                               " (run as root, or another tracer is attached)");
    }
    seized_ = true;
    if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) { gone_ = true; return; }
    for (;;) {
      int st = 0;
      if (waitpid(tid, &st, __WALL) != tid) { gone_ = true; return; }
      if (WIFEXITED(st) || WIFSIGNALED(st)) { gone_ = true; seized_ = false; return; }
      if (!WIFSTOPPED(st)) continue;
      if ((st >> 16) == PTRACE_EVENT_STOP) break;  // our interrupt (or a group-stop)
      // A signal-delivery stop came first: remember the signal to hand it back on
      // detach, and treat the thread as running (it is about to run a handler).
      pending_signal_ = WSTOPSIG(st);
      break;
    }
    if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs_) != 0) { gone_ = true; return; }
  }
  ~SeizedThread() {
    if (!seized_) return;
    if (dirty_) ptrace(PTRACE_SETREGS, tid_, nullptr, &regs_);
    ptrace(PTRACE_DETACH, tid_, nullptr, reinterpret_cast<void*>(static_cast<long>(pending_signal_)));
  }
  SeizedThread(const SeizedThread&) = delete;
  SeizedThread& operator=(const SeizedThread&) = delete;

  bool gone() const { return gone_; }
  int pending_signal() const { return pending_signal_; }
  const user_regs_struct& regs() const { return regs_; }
  pid_t tid() const { return tid_; }
  pid_t pid() const { return pid_; }

  // Make the interrupted system call run again on resume, as the kernel does for
  // -ERESTARTNOINTR (facts-checked.md): rax = orig_rax, rip back over `syscall`.
  void restart_syscall() {
    regs_.rax = regs_.orig_rax;
    regs_.rip -= 2;
    dirty_ = true;
  }

 private:
  pid_t pid_, tid_;
  bool seized_ = false, gone_ = false, dirty_ = false;
  int pending_signal_ = 0;
  user_regs_struct regs_{};
};

// True if the 8 bytes before `ret` end with a call instruction (e8 rel32, or
// ff /2 in its 2-, 3- and 6-byte forms).
bool follows_call(pid_t pid, uint64_t ret) {
  uint8_t b[8];
  if (!read_mem(pid, ret - 8, b, sizeof b)) return false;
  if (b[3] == 0xe8) return true;
  if (b[6] == 0xff && (b[7] & 0x38) == 0x10) return true;
  if (b[5] == 0xff && (b[6] & 0x38) == 0x10) return true;
  if (b[2] == 0xff && (b[3] & 0x38) == 0x10) return true;
  return false;
}

std::string describe(const UpdatePointMap& map, uint64_t bias, uint64_t addr) {
  char buf[64];
  if (const Function* f = map.function_at(addr - bias)) {
    snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>(addr - bias - f->lo));
    return f->name + buf;
  }
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(addr));
  return buf;
}

ThreadReport classify(SeizedThread& t, const UpdatePointMap& map, uint64_t bias, uint64_t rt_addr) {
  ThreadReport r;
  r.tid = t.tid();
  if (t.gone()) { r.state = ThreadState::kGone; r.where = "exited"; return r; }
  const user_regs_struct& g = t.regs();
  r.pc = g.rip;
  long nr = static_cast<long>(g.orig_rax);
  long rax = static_cast<long>(g.rax);
  r.syscall = nr;

  if (t.pending_signal()) {
    r.state = ThreadState::kRunning;
    r.where = "a signal (" + std::to_string(t.pending_signal()) + ") is being delivered";
    return r;
  }
  if (nr == TTST_MARKER_SYSCALL && g.rdi == TTST_MARKER_MAGIC && g.rsi == rt_addr && rax == -ENOSYS) {
    r.state = ThreadState::kAtUpdatePoint;
    r.where = "at the update point in " + describe(map, bias, g.r10);
    if (const Function* f = map.function_at(g.r10 - bias)) r.function = f->name;
    return r;
  }

  // Innermost program frame: rip itself, or the first return address into the
  // executable found at or above rsp.
  uint64_t frame_ret = 0;  // the return address found, 0 if rip is in the program
  const Function* inner = nullptr;
  if (map.in_text(g.rip - bias)) {
    inner = map.function_at(g.rip - bias);
  } else {
    uint64_t words[512];
    size_t n = 0;
    for (; n < 512 && read_mem(t.pid(), g.rsp + 8 * n, &words[n], 8); n++) {}
    for (size_t i = 0; i < n; i++) {
      uint64_t w = words[i];
      if (w > bias && map.in_text(w - bias) && follows_call(t.pid(), w)) {
        frame_ret = w;
        inner = map.function_at(w - bias);
        break;
      }
    }
  }
  r.function = inner ? inner->name : "";

  // The chain of callers through the frame pointers, for the message.
  std::string chain;
  uint64_t fp = g.rbp;
  for (int depth = 0; depth < 8 && fp > g.rsp && fp - g.rsp < (64u << 20); depth++) {
    uint64_t frame[2];
    if (!read_mem(t.pid(), fp, frame, sizeof frame)) break;
    if (frame[1] <= bias || !map.in_text(frame[1] - bias)) break;
    chain += " <- " + describe(map, bias, frame[1]);
    if (frame[0] <= fp) break;
    fp = frame[0];
  }

  // Stopped on its way back into a restarted system call (rip at `syscall`, rax
  // set up for it): as blocked as before.
  uint8_t insn[2] = {0, 0};
  bool restarting = nr >= 0 && (rax == nr || rax == kSysRestartSyscall) && read_mem(t.pid(), g.rip, insn, 2) &&
                    insn[0] == 0x0f && insn[1] == 0x05;
  bool in_syscall = restarting || (nr >= 0 && (rax == kERESTARTSYS || rax == kERESTARTNOINTR ||
                                               rax == kERESTARTNOHAND || rax == kERESTART_RESTARTBLOCK));
  // epoll_wait & co. end with EINTR on any stop (they are never restarted by the
  // kernel); when no real signal is waiting, that EINTR is ours to undo.
  bool eintr_ours = nr >= 0 && rax == -EINTR && (nr == 232 || nr == 281 || nr == 441) &&
                    deliverable_signals(t.pid(), t.tid()) == 0;
  std::string site = inner ? describe(map, bias, frame_ret ? frame_ret : g.rip) : "outside the program";
  if (in_syscall || eintr_ours) {
    r.where = std::string(syscall_name(nr)) + "() called from " + site + chain;
    if (inner && inner->has_upoint) {
      r.state = ThreadState::kQuiescent;
      if (eintr_ours) {
        t.restart_syscall();
        r.restarted = true;
      }
    } else {
      r.state = ThreadState::kBlocked;
      if (eintr_ours) {  // not ours to keep either: put it back as it was
        t.restart_syscall();
        r.restarted = true;
      }
    }
    return r;
  }
  r.state = ThreadState::kRunning;
  r.where = "running in " + site + chain;
  return r;
}

}  // namespace

const char* state_name(ThreadState s) {
  switch (s) {
    case ThreadState::kAtUpdatePoint: return "at update point";
    case ThreadState::kQuiescent: return "quiescent";
    case ThreadState::kBlocked: return "blocked";
    case ThreadState::kRunning: return "running";
    case ThreadState::kGone: return "gone";
  }
  return "?";
}

const char* syscall_name(long nr) {
  switch (nr) {
    case 0: return "read";
    case 7: return "poll";
    case 19: return "readv";
    case 23: return "select";
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

uint64_t load_bias(pid_t pid, const UpdatePointMap& map) {
  if (!map.is_pie()) return 0;
  char exe[4096];
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  ssize_t n = readlink(link.c_str(), exe, sizeof exe - 1);
  if (n <= 0) throw std::runtime_error("cannot read " + link + ": " + strerror(errno));
  exe[n] = 0;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  uint64_t lowest = UINT64_MAX;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos || line.compare(slash, std::string::npos, exe) != 0) continue;
    lowest = std::min<uint64_t>(lowest, std::stoull(line, nullptr, 16));
  }
  if (lowest == UINT64_MAX) throw std::runtime_error(std::string("no mapping of ") + exe + " in process " + std::to_string(pid));
  return lowest - map.first_load_vaddr();
}

Report check(pid_t pid, const UpdatePointMap& map) {
  uint64_t bias = load_bias(pid, map);
  uint64_t rt_addr = map.runtime_symbol() ? map.runtime_symbol() + bias : 0;
  // Seize until no new thread appears (threads may be created meanwhile).
  std::vector<std::unique_ptr<SeizedThread>> seized;
  std::set<pid_t> seen;
  for (bool grew = true; grew;) {
    grew = false;
    for (pid_t tid : list_threads(pid)) {
      if (!seen.insert(tid).second) continue;
      grew = true;
      seized.push_back(std::make_unique<SeizedThread>(pid, tid));
    }
  }
  Report rep;
  rep.quiescent = true;
  for (auto& t : seized) {
    ThreadReport r = classify(*t, map, bias, rt_addr);
    if (r.state == ThreadState::kGone) continue;
    if (r.state != ThreadState::kQuiescent && r.state != ThreadState::kAtUpdatePoint && rep.quiescent) {
      rep.quiescent = false;
      rep.message = "thread " + std::to_string(r.tid) + " is " + state_name(r.state) + ": " + r.where +
                    (r.state == ThreadState::kBlocked ? " (no update point there)" : "");
    }
    rep.threads.push_back(std::move(r));
  }
  if (rep.quiescent)
    rep.message = "all " + std::to_string(rep.threads.size()) + " thread(s) quiescent";
  return rep;  // `seized` goes out of scope: every thread is let go as it was
}

Report check_within(pid_t pid, const UpdatePointMap& map, std::chrono::milliseconds bound,
                    std::chrono::milliseconds interval) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    Report r = check(pid, map);
    if (r.quiescent || std::chrono::steady_clock::now() + interval > deadline) {
      if (!r.quiescent)
        r.message += " — still so after " + std::to_string(bound.count()) +
                     " ms; the update is refused: retry when the program is idle";
      return r;
    }
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace ttst::quiesce
