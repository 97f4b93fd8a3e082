/* qprog.c — a program for the quiescence tests: blocks in one system call, either
 * in its event loop (a function with TTST_UPDATE_POINT) or in the middle of a
 * request (a function without one, or one inlined into the loop), or spins busily
 * through update points (busy_syscall: one system call per turn, as a server's loop),
 * or (spin_read) computes for a while between its update point and its read, as a
 * server handling the last event before its next wait.
 *   qprog MODE   MODE: accept epoll poll select read nanosleep midrequest busy
 *                      busy_syscall inlined inlined_write spin_read
 * Prints "READY <pid> <port> <&__ttst_runtime> <&counter> <rseq area>" once set up, then one
 * "RESULT rc=<rc> errno=<errno> ms=<elapsed>" when its system call returns. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/rseq.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <ttst.h>

static const char *mode;
static int lfd = -1;
volatile unsigned long counter;

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void say(const char *fmt, long a, long b, long c) {
  char buf[256];
  int n = snprintf(buf, sizeof buf, fmt, a, b, c);
  (void)!write(1, buf, (size_t)n);
}

__attribute__((noinline)) static long handle_request(void) {
  char c;
  return read(0, &c, 1); /* blocks mid-request: no update point here */
}

/* A request handler inlined into the event loop: its system calls share
 * event_loop's symbol and frame, yet they are mid-request (only DWARF's inlined
 * ranges tell them from the loop's own calls). Mode "inlined" blocks reading the
 * request's next byte; "inlined_write" blocks writing its reply into a full pipe (filled
 * first: a write blocked after a partial transfer would return short when the
 * probe interrupts it, as on any signal). */
static inline __attribute__((always_inline)) long handle_inlined(int reply) {
  static char out[4096];
  int p[2];
  char c;
  if (!reply) return read(0, &c, 1); /* the same call as mode "read": not merged */
  if (pipe2(p, O_NONBLOCK)) return -1;
  while (write(p[1], out, sizeof out) > 0) {
  }
  fcntl(p[1], F_SETFL, 0);
  return write(p[1], out, 1); /* nobody reads: blocks */
}

/* The event loop: the update point, then the blocking call, all in this one
 * function (a thread blocked here is quiescent). */
__attribute__((noinline)) static void event_loop(void) {
  for (;;) {
    TTST_UPDATE_POINT();
    if (!strcmp(mode, "future")) {
      say("AFTER updating=%ld %ld %ld\n", ttst_is_updating(), 0, 0);
      exit(0);
    }
    if (!strcmp(mode, "busy")) {
      counter++;
      continue;
    }
    if (!strcmp(mode, "busy_syscall")) {
      counter++;
      (void)syscall(SYS_getpid);
      continue;
    }
    long t0 = now_ms(), rc = -1;
    char c;
    errno = 0;
    if (!strcmp(mode, "midrequest")) {
      rc = handle_request();
    } else if (!strncmp(mode, "inlined", 7)) {
      rc = handle_inlined(mode[7] != 0);
    } else if (!strcmp(mode, "accept")) {
      rc = accept(lfd, NULL, NULL);
    } else if (!strcmp(mode, "read")) {
      rc = read(0, &c, 1);
    } else if (!strcmp(mode, "spin_read")) {
      while (counter < 1500000000) counter++; /* no system call: past the update point, before the wait */
      rc = read(0, &c, 1);
    } else if (!strcmp(mode, "poll")) {
      struct pollfd p = {.fd = 0, .events = POLLIN};
      rc = poll(&p, 1, -1);
    } else if (!strcmp(mode, "select")) {
      fd_set r;
      FD_ZERO(&r);
      FD_SET(0, &r);
      rc = select(1, &r, NULL, NULL, NULL);
    } else if (!strcmp(mode, "epoll")) {
      int ep = epoll_create1(0);
      struct epoll_event ev = {.events = EPOLLIN}, out;
      epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
      errno = 0;
      rc = epoll_wait(ep, &out, 1, -1);
    } else if (!strcmp(mode, "nanosleep")) {
      struct timespec t = {1, 500000000};
      rc = nanosleep(&t, NULL);
    }
    int e = errno;
    say("RESULT rc=%ld errno=%ld ms=%ld\n", rc, e, now_ms() - t0);
    exit(0);
  }
}

/* A second thread's own event loop (mode "mt"): quiescent while it sleeps. */
static void *worker_loop(void *arg) {
  (void)arg;
  for (;;) {
    TTST_UPDATE_POINT();
    struct timespec t = {30, 0};
    nanosleep(&t, NULL);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: qprog accept|epoll|poll|select|read|spin_read|nanosleep|midrequest|inlined|inlined_write|busy|busy_syscall|future|mt\n");
    return 2;
  }
  mode = argv[1];
  if (!strcmp(mode, "mt")) { /* main thread as in "poll", plus a sleeping worker */
    pthread_t t;
    pthread_create(&t, NULL, worker_loop, NULL);
    mode = "poll";
  }
  if (!strcmp(mode, "future")) { /* start-up of a future version */
    const char *env = getenv(TTST_FUTURE_ENV);
    char line[16];
    say("START updating=%ld env=%ld %ld\n", ttst_is_updating(), env != NULL, 0);
    if (!fgets(line, sizeof line, stdin)) return 3; /* the test says go */
  }
  int port = 0;
  if (!strcmp(mode, "accept")) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 4) ||
        getsockname(lfd, (struct sockaddr *)&a, &len)) {
      perror("qprog: listen");
      return 1;
    }
    port = ntohs(a.sin_port);
  }
  char buf[256];
  /* The kernel rewrites the thread's rseq area (cpu id) whenever it is scheduled
   * anywhere: readers that compare memory need to know where it is. */
  char *rseq_area = __rseq_size ? (char *)__builtin_thread_pointer() + __rseq_offset : NULL;
  int n = snprintf(buf, sizeof buf, "READY %ld %d %p %p %p\n", (long)getpid(), port,
                   (void *)&__ttst_runtime, (void *)&counter, (void *)rseq_area);
  (void)!write(1, buf, (size_t)n);
  event_loop();
  return 0;
}
