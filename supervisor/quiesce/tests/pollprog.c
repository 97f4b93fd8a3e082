/* pollprog.c — an event loop shaped like nginx's, for the poller rule (ttst_abi.h
 * §6, §7): the update point is in event_loop, whose own code never blocks; the
 * blocking epoll_wait is in epoll_process_events, reached through the function
 * pointer actions.process_events from process_events_and_timers (nginx:
 * ngx_single_process_cycle -> ngx_process_events_and_timers ->
 * ngx_event_actions.process_events = ngx_epoll_process_events -> epoll_wait).
 *   pollprog MODE   MODE:
 *     idle     the loop waits for its next event through the declared path
 *     handler  a request handler called by the loop waits for the rest of its
 *              request through the same function pointer (mid-request)
 *     nested   the same handler, called from process_events_and_timers
 *     inlined  a handler inlined into process_events_and_timers does the same
 *     tail     process_events_and_timers calls a handler directly, which ends by
 *              returning the poller's result through the same pointer (a tail call
 *              when built with sibling calls on: pollprog_sibling)
 * Built with -DDECLARE_POLLER: declares TTST_POLLER(process_events_and_timers,
 * epoll_process_events) in the source (pollprog_env: the same through ttst-cc's
 * TTST_POLLER; pollprog_undeclared: no declaration).
 * Prints "READY <pid>" once set up, then "RESULT rc=<n> errno=<e>" when the wait
 * returns (the test writes a byte to stdin), and exits. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <ttst.h>

struct event_actions {
  int (*process_events)(int timer_ms);
};
struct event_actions actions; /* set at start-up, like ngx_event_actions */
static const char *mode;
static int epfd = -1;

#ifdef DECLARE_POLLER
TTST_POLLER(process_events_and_timers, epoll_process_events);
#endif

static void say(const char *fmt, long a, long b) {
  char buf[128];
  int n = snprintf(buf, sizeof buf, fmt, a, b);
  (void)!write(1, buf, (size_t)n);
}

/* The poller: its own epoll_wait is the loop's idle wait. */
__attribute__((noinline)) static int epoll_process_events(int timer_ms) {
  struct epoll_event ev[4];
  errno = 0;
  int n = epoll_wait(epfd, ev, 4, timer_ms);
  if (n > 0) {
    char c;
    (void)!read(0, &c, 1);
  }
  return n;
}

/* A request handler that waits for the rest of its request with the poller, through
 * the same pointer: mid-request. */
__attribute__((noinline)) static int handle_request(void) { return actions.process_events(-1) + 0 * errno; }

static inline __attribute__((always_inline)) int handle_inlined(void) { return actions.process_events(-1); }

__attribute__((noinline)) int handle_tail(void) { return actions.process_events(-1); }

__attribute__((noinline)) void process_events_and_timers(void) {
  int n;
  if (!strcmp(mode, "tail"))
    n = handle_tail();
  else if (!strcmp(mode, "nested"))
    n = handle_request();
  else if (!strcmp(mode, "inlined"))
    n = handle_inlined();
  else
    n = actions.process_events(-1);
  int e = errno;
  say("RESULT rc=%ld errno=%ld\n", n, e);
  exit(0);
}

__attribute__((noinline)) static void event_loop(void) {
  for (;;) {
    TTST_UPDATE_POINT();
    if (!strcmp(mode, "handler")) {
      int n = handle_request();
      int e = errno;
      say("RESULT rc=%ld errno=%ld\n", n, e);
      exit(0);
    }
    process_events_and_timers();
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: pollprog idle|handler|nested|inlined|tail\n");
    return 2;
  }
  mode = argv[1];
  actions.process_events = epoll_process_events;
  epfd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev)) {
    perror("pollprog: epoll");
    return 1;
  }
  say("READY %ld\n", (long)getpid(), 0);
  event_loop();
  return 0;
}
