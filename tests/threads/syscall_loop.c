/* syscall_loop.c — a thread in a tight loop of system calls that creates a
 * short-lived thread every 64 calls: the target of interrupt_first_test, which
 * traces that thread with PTRACE_SYSCALL and interrupts it again and again
 * (Task::interrupt must show the tracer every syscall or clone stop that comes
 * before the interrupt stop, never let one through unseen).
 * It prints "ready tid=T calls=A clones=B": the looping thread's tid and the
 * addresses of its two counters, each raised just BEFORE the call it counts
 * (getppid, pthread_create), so at any stop a counter is the tracer's count of
 * entries (clone events) seen, or one more. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile long calls, clones;

static void *brief(void *arg) { return arg; }

static void *looper(void *arg) {
  (void)arg;
  printf("ready tid=%ld calls=%p clones=%p\n", (long)syscall(SYS_gettid), (void *)&calls, (void *)&clones);
  fflush(stdout);
  for (;;) {
    calls = calls + 1;
    syscall(SYS_getppid);
    if (calls % 64 == 0) {
      pthread_t t;
      clones = clones + 1;
      if (pthread_create(&t, NULL, brief, NULL) == 0) pthread_join(t, NULL);
    }
  }
  return NULL;
}

int main(void) {
  pthread_t t;
  if (pthread_create(&t, NULL, looper, NULL) != 0) return 1;
  pthread_join(t, NULL);
  return 0;
}
