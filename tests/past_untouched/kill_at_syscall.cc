// kill_at_syscall.cc — a test tool: runs a command (the shipped ttst-supervise)
// under ptrace and SIGKILLs it at the syscall-entry stop of its N-th system call
// of a chosen kind, before that call runs. Deterministic, and it needs no hook in
// the program it kills (a traced process may itself trace others).
//
//   kill_at_syscall [--past PID] [--kill N] [--list] -- COMMAND ARGS...
//
// Without --past every system call counts but the polling ones (sched_yield,
// nanosleep, clock_nanosleep, futex, and wait4/waitid with WNOHANG), whose number
// depends on timing: so the N-th call is the same point of the program in every
// run, and a kill before each counted call reaches every state (a polling call
// changes nothing). With --past, only the calls that
// change the past process PID: ptrace on PID or any of its threads with a request that writes or
// resumes it (seize, interrupt, set registers/FPU/mask/options, syscall, cont,
// detach), process_vm_writev into it, and kill/tgkill aimed at it. The calls of
// every thread and child of COMMAND are followed (counting stays deterministic
// while COMMAND runs one thread, which ttst-supervise does up to its diff).
// --list prints one line per counted call ("N nr [request pid]", the request and
// pid for ptrace). The last line is "killed N nr [request pid]" or "exited STATUS
// after N" (STATUS: the exit status, or 128+signal).
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

// True when `tid` is PID itself or one of its threads (Tgid in its status).
bool thread_of(long tid, pid_t past) {
  if (static_cast<pid_t>(tid) == past) return true;
  std::FILE* f = std::fopen(("/proc/" + std::to_string(tid) + "/status").c_str(), "r");
  if (!f) return false;
  char line[256];
  pid_t tgid = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "Tgid: %d", &tgid) == 1) break;
  std::fclose(f);
  return tgid == past;
}

bool changes_past(const __ptrace_syscall_info& i, pid_t past) {
  const auto* a = i.entry.args;
  switch (i.entry.nr) {
    case SYS_ptrace: {
      if (!thread_of(static_cast<long>(a[1]), past)) return false;
      static const std::set<long> writes = {
          PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_SETREGSET, PTRACE_SETREGS, PTRACE_SETFPREGS,
          PTRACE_SETSIGMASK, PTRACE_SETOPTIONS, PTRACE_SYSCALL, PTRACE_CONT, PTRACE_DETACH,
          PTRACE_POKEDATA, PTRACE_POKEUSER, PTRACE_SETSIGINFO, PTRACE_LISTEN, PTRACE_SINGLESTEP};
      return writes.count(static_cast<long>(a[0])) != 0;
    }
    case SYS_process_vm_writev: return static_cast<pid_t>(a[0]) == past;
    case SYS_kill: return static_cast<pid_t>(a[0]) == past;
    case SYS_tgkill: return static_cast<pid_t>(a[0]) == past || thread_of(static_cast<long>(a[1]), past);
    default: return false;
  }
}

bool polling(const __ptrace_syscall_info& i) {
  const auto* a = i.entry.args;
  switch (i.entry.nr) {
    case SYS_sched_yield:
    case SYS_nanosleep:
    case SYS_clock_nanosleep:
    case SYS_futex: return true;
    case SYS_wait4: return (a[2] & WNOHANG) != 0;
    case SYS_waitid: return (a[3] & WNOHANG) != 0;
    default: return false;
  }
}

std::string describe(const __ptrace_syscall_info& i) {
  std::string s = std::to_string(i.entry.nr);
  if (i.entry.nr == SYS_ptrace) s += " " + std::to_string(i.entry.args[0]) + " " + std::to_string(i.entry.args[1]);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  pid_t past = 0;
  long kill_at = 0;
  bool list = false;
  int i = 1;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    if (!std::strcmp(argv[i], "--past") && i + 1 < argc) past = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--kill") && i + 1 < argc) kill_at = std::atol(argv[++i]);
    else if (!std::strcmp(argv[i], "--list")) list = true;
    else { std::fprintf(stderr, "kill_at_syscall: unknown argument %s\n", argv[i]); return 2; }
  }
  if (i + 1 >= argc) { std::fprintf(stderr, "usage: kill_at_syscall [--past PID] [--kill N] [--list] -- CMD...\n"); return 2; }
  char** cmd = argv + i + 1;

  pid_t child = fork();
  if (child == 0) {
    ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    raise(SIGSTOP);
    execv(cmd[0], cmd);
    std::perror("execv");
    _exit(127);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFSTOPPED(status)) { std::perror("waitpid"); return 2; }
  const long opts = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                    PTRACE_O_EXITKILL;
  if (ptrace(PTRACE_SETOPTIONS, child, nullptr, reinterpret_cast<void*>(opts)) != 0) { std::perror("SETOPTIONS"); return 2; }
  ptrace(PTRACE_SYSCALL, child, nullptr, nullptr);

  long counted = 0;
  for (;;) {
    pid_t t = waitpid(-1, &status, __WALL);
    if (t < 0) break;  // no tracee left
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      if (t == child) {
        int st = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        std::printf("exited %d after %ld\n", st, counted);
        return 0;
      }
      continue;
    }
    int sig = WSTOPSIG(status);
    int deliver = 0;
    if (sig == (SIGTRAP | 0x80)) {
      __ptrace_syscall_info info{};
      ptrace(static_cast<__ptrace_request>(PTRACE_GET_SYSCALL_INFO), t, reinterpret_cast<void*>(sizeof info), &info);
      if (info.op == PTRACE_SYSCALL_INFO_ENTRY && (past == 0 ? !polling(info) : changes_past(info, past))) {
        ++counted;
        if (list) std::printf("%ld %s\n", counted, describe(info).c_str());
        if (counted == kill_at) {
          kill(child, SIGKILL);
          std::printf("killed %ld %s\n", counted, describe(info).c_str());
          std::fflush(stdout);
          // Wait for the whole traced tree to go.
          while (waitpid(-1, &status, __WALL) > 0) {
          }
          return 0;
        }
      }
    } else if ((status >> 16) == 0 && sig != SIGTRAP && sig != SIGSTOP) {
      deliver = sig;  // a real signal for the command
    } else if ((status >> 16) == PTRACE_EVENT_STOP) {
      deliver = 0;
    }
    ptrace(PTRACE_SYSCALL, t, nullptr, reinterpret_cast<void*>(static_cast<intptr_t>(deliver)));
  }
  std::printf("exited ? after %ld\n", counted);
  return 0;
}
