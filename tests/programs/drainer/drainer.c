/* drainer.c — a single-threaded epoll server that drains a connection before it
 * waits again, as memcached 1.2's state machine does: once a connection is
 * readable it reads and answers requests until read() says EAGAIN, and only then
 * returns to epoll_wait (where its update point is). Each request costs ~2 ms of
 * CPU (no system call), so a client sending its next request soon after each
 * reply finds the server busy most of the time, and in its wait between requests.
 * A supervisor that drives such a server under PTRACE_SYSCALL slows its calls
 * enough that the next request is always there before it reads again: it never
 * waits (memcached 1.2 under back-to-back gets: driven for seconds).
 * Protocol, one line each: "REQ" -> "OK served=N eintr=E" (E: calls that failed
 * with EINTR, which an update that does not commit must leave at 0).
 * Usage: drainer — prints "PORT n" (127.0.0.1, a free port), then serves. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <ttst.h>

struct conn {
  int fd;
  char in[256];
  size_t len;
};

struct tally {
  long served, eintr;
};
static struct tally *tally; /* state on the heap */

static void count(long r) {
  if (r < 0 && errno == EINTR) tally->eintr++;
}

/* ~2 ms of CPU without a system call (the vDSO's clock). */
static void work(void) {
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do clock_gettime(CLOCK_MONOTONIC, &t);
  while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 2000000L);
}

/* Reads and answers until EAGAIN; 0 when the connection ended. */
static int drain(struct conn *c) {
  for (;;) {
    ssize_t n = read(c->fd, c->in + c->len, sizeof c->in - 1 - c->len);
    count(n);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
    if (n <= 0) return 0;
    c->len += (size_t)n;
    char *nl;
    while ((nl = memchr(c->in, '\n', c->len))) {
      work();
      tally->served++;
      char out[96];
      int k = snprintf(out, sizeof out, "OK served=%ld eintr=%ld\n", tally->served, tally->eintr);
      count(write(c->fd, out, (size_t)k));
      size_t used = (size_t)(nl + 1 - c->in);
      memmove(c->in, nl + 1, c->len - used);
      c->len -= used;
    }
    if (c->len == sizeof c->in - 1) c->len = 0; /* a line too long: dropped */
  }
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  tally = calloc(1, sizeof *tally);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 16) || getsockname(lfd, (struct sockaddr *)&a, &alen))
    return 1;
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  printf("PORT %d\n", ntohs(a.sin_port));
  for (;;) {
    TTST_UPDATE_POINT();
    struct epoll_event got[8];
    int n = epoll_wait(ep, got, 8, -1);
    count(n);
    for (int i = 0; i < n; i++) {
      struct conn *c = got[i].data.ptr;
      if (!c) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) continue;
        c = calloc(1, sizeof *c);
        c->fd = fd;
        struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
      } else if (!drain(c)) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        free(c);
      }
    }
  }
}
