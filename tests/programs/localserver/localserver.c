/* localserver — a line server whose whole state is scalar locals of main: the
 * listening socket, the epoll instance and a request counter (as many small epoll
 * servers keep them). Its connections are registered in that epoll instance only.
 * An update must carry the locals (frame_roots.cc, scalar locals): with v2's own
 * start-up values F would wait on an epoll instance without P's connections (held
 * connections never answered) and count from zero, and nothing in memory would show
 * it. v2 widens the counter (int -> long).
 * Usage: localserver PORT (0: a free one, printed as "PORT n").
 * Protocol, one line in, one line out: VERSION -> "VERSION n"; anything else ->
 * "SERVED n" (requests served so far, this one included). */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ttst.h"

#ifndef LS_VERSION
#define LS_VERSION 1
#endif
#if LS_VERSION == 1
typedef int counter_t;
#else
typedef long counter_t;
#endif

static void reply(int fd, const char *line, counter_t *served) {
  char out[64];
  int n = strncmp(line, "VERSION", 7) == 0 ? snprintf(out, sizeof out, "VERSION %d\n", LS_VERSION)
                                           : snprintf(out, sizeof out, "SERVED %ld\n", (long)++*served);
  if (write(fd, out, (size_t)n) < 0) perror("localserver: write");
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN); /* v2's start-up prints PORT into a pipe nobody reads any more */
  int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)atoi(argc > 1 ? argv[1] : "0"));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 16) ||
      getsockname(lfd, (struct sockaddr *)&a, &len)) {
    perror("localserver: cannot listen");
    return 1;
  }
  int epfd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
  counter_t served = 0;
  printf("PORT %d\n", ntohs(a.sin_port));
  fflush(stdout);
  for (;;) {
    TTST_UPDATE_POINT();
    struct epoll_event evs[16];
    int n = epoll_wait(epfd, evs, 16, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        int c = accept(lfd, NULL, NULL);
        struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
        if (c >= 0) epoll_ctl(epfd, EPOLL_CTL_ADD, c, &e);
        continue;
      }
      char buf[256];
      ssize_t r = read(fd, buf, sizeof buf - 1);
      if (r <= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
        continue;
      }
      buf[r] = 0;
      reply(fd, buf, &served);
    }
  }
}
