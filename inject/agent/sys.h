/* sys.h — raw Linux x86-64 system calls for the freestanding agent (no libc).
 * Untrusted code: the agent may crash or hang; the host detects both. */
#ifndef TTST_AGENT_SYS_H
#define TTST_AGENT_SYS_H

#include <stddef.h>
#include <stdint.h>

#define AGENT_SYS_getpid 39
#define AGENT_SYS_fork 57
#define AGENT_SYS_nanosleep 35
#define AGENT_SYS_gettid 186
#define AGENT_SYS_tgkill 234
#define AGENT_SYS_rt_sigprocmask 14
#define AGENT_SYS_process_vm_readv 310

#define AGENT_SIGABRT 6
#define AGENT_SIGSTOP 19
#define AGENT_SIG_UNBLOCK 1

static inline long agent_syscall6(long nr, long a1, long a2, long a3, long a4,
                                  long a5, long a6) {
  long ret;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = a6;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

static inline long agent_syscall3(long nr, long a1, long a2, long a3) {
  return agent_syscall6(nr, a1, a2, a3, 0, 0, 0);
}

struct agent_iovec {
  void *base;
  size_t len;
};

/* Reads `len` bytes at `remote` in process `pid` into `local`. Returns bytes read
 * or -errno. The agent only ever reads other processes, never writes them. */
static inline long agent_read_peer(int pid, void *local, uint64_t remote, size_t len) {
  struct agent_iovec l = {local, len};
  struct agent_iovec r = {(void *)(uintptr_t)remote, len};
  return agent_syscall6(AGENT_SYS_process_vm_readv, pid, (long)&l, 1, (long)&r, 1, 0);
}

#endif /* TTST_AGENT_SYS_H */
