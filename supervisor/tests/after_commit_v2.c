/* after_commit_v2 — a v2 that fails shortly after an update commits, for the grace
 * period's tests (grace_period_test.cc). Linked with kvserver.c built as v2 (or
 * listener.c: the same compilation units as kvserver_v2 and listener_v2, the same
 * state IDs), it replaces only epoll_wait, poll and ppoll, which their loops call:
 * start-up, state, transfer and loop are theirs. Each counts 100 ms from the first wait past the commit (the first
 * call made while not updating), never waits beyond that, and then
 *   -DAFTER_COMMIT_CRASH  dereferences NULL (SIGSEGV);
 *   -DAFTER_COMMIT_HANG   spins forever (no system call, no update point).
 * Requests that arrive before then are served as kvserver v2 serves them. */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ttst.h"

static long long after_commit_ms; /* when this version first waited past the commit */

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The timeout of a wait past the commit: never beyond 100 ms after the first one;
 * then the failure. */
static int limited(int timeout) {
  if (ttst_is_updating()) return timeout;
  if (!after_commit_ms) after_commit_ms = now_ms();
  long long left = after_commit_ms + 100 - now_ms();
  if (left <= 0) {
#ifdef AFTER_COMMIT_CRASH
    *(volatile int *)0 = 42;
#else
    for (volatile int spin = 1; spin;) {
    }
#endif
  }
  return timeout < 0 || timeout > left ? (int)left : timeout;
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout) {
  return (int)syscall(SYS_epoll_wait, epfd, events, maxevents, limited(timeout));
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout) {
  return (int)syscall(SYS_poll, fds, nfds, limited(timeout));
}

int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask) {
  const int given = tmo ? (int)(tmo->tv_sec * 1000 + tmo->tv_nsec / 1000000) : -1;
  const int ms = limited(given);
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
  return (int)syscall(SYS_ppoll, fds, nfds, ms < 0 ? NULL : &t, mask, _NSIG / 8);
}
