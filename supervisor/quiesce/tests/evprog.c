/* evprog.c — an event loop whose idle wait is inside a shared library (libevent),
 * shaped like memcached 1.2's: main holds the update point and calls libevent's
 * exported event_base_loop, which waits in epoll_wait through its static
 * epoll_dispatch (ttst_abi.h §7, a library poller path: TTST_POLLER="event_base_loop"
 * given to ttst-cc; evprog_undeclared: none). With a second argument "wrapped" the
 * loop calls libevent through a function of its own, loop_once (redis-style:
 * main -> loop_once -> event_base_loop), declared as "loop_once, event_base_loop"
 * (evprog_otherfn declares "loop_once, event_base_dispatch" instead: a path whose
 * library function is not the one the program entered the library through).
 *   evprog MODE [wrapped]   MODE:
 *     idle      the loop waits for its next event inside event_base_loop
 *     callback  the first line's callback waits for the rest of its request with
 *               a blocking read(): event_base_loop -> callback -> read (mid-request)
 *     nested    the first line's callback waits in event_base_loop of a second
 *               event base: the same library function as the poller, reached from
 *               a callback (mid-request)
 *     dispatch  runs event_base_dispatch instead of the loop (never used by the
 *               tests: it makes the program import the name evprog_otherfn declares)
 * Prints "READY <pid>" once set up and "WAITING" when the first line is handled
 * (callback, nested); the line after that ends it: "RESULT ok", exit 0. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ttst.h>

static const char *mode;
static int lines;
static int wrapped;

static void say(const char *s) { (void)!write(1, s, strlen(s)); }

static void on_second_base_ready(evutil_socket_t fd, short what, void *arg) {
  (void)fd, (void)what, (void)arg;
}

static void on_line(evutil_socket_t fd, short what, void *arg) {
  (void)what, (void)arg;
  char buf[64];
  if (read(fd, buf, sizeof buf) <= 0) exit(3);
  if (++lines == 2 || strcmp(mode, "idle") == 0) {
    say("RESULT ok\n");
    exit(0);
  }
  if (strcmp(mode, "callback") == 0) {
    say("WAITING\n");
    if (read(fd, buf, sizeof buf) <= 0) exit(3); /* the rest of the request */
    say("RESULT ok\n");
    exit(0);
  } else if (strcmp(mode, "nested") == 0) {
    struct event_base *inner = event_base_new();
    struct event *ev = event_new(inner, fd, EV_READ, on_second_base_ready, NULL);
    event_add(ev, NULL);
    say("WAITING\n");
    event_base_loop(inner, EVLOOP_ONCE);
    if (read(fd, buf, sizeof buf) <= 0) exit(3);
    say("RESULT ok\n");
    exit(0);
  }
}

/* One round of the loop, in a function of the program's own. */
__attribute__((noinline)) static int loop_once(struct event_base *base) {
  return event_base_loop(base, EVLOOP_ONCE);
}

int main(int argc, char **argv) {
  mode = argc > 1 ? argv[1] : "idle";
  wrapped = argc > 2 && strcmp(argv[2], "wrapped") == 0;
  struct event_base *base = event_base_new();
  if (!base || strcmp(event_base_get_method(base), "epoll") != 0) return 2;
  struct event *ev = event_new(base, 0, EV_READ | EV_PERSIST, on_line, NULL);
  event_add(ev, NULL);
  char ready[32];
  snprintf(ready, sizeof ready, "READY %d\n", (int)getpid());
  say(ready);
  if (strcmp(mode, "dispatch") == 0) return event_base_dispatch(base); /* for evprog_otherfn's import */
  for (;;) {
    TTST_UPDATE_POINT();
    if (wrapped)
      loop_once(base);
    else
      event_base_loop(base, EVLOOP_ONCE);
  }
}
