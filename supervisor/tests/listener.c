/* listener.c — a TCP server whose start-up always re-creates its listening socket,
 * as a real server's does: socket, setsockopt(SO_REUSEADDR), bind(127.0.0.1:PORT),
 * listen(BACKLOG), fcntl(F_SETFL, O_NONBLOCK) — no ttst_is_updating(), no inherited
 * descriptor passed in. A new version started by ttst-supervise runs the same
 * start-up, and the supervisor answers its bind with the old version's socket
 * (startup_adoption.h). Given a path instead of a port, the same over a UNIX stream
 * socket, unlinking the path first as servers do. Each connection gets one line "vV served=N" and is closed.
 * Built as: listener_v1/v2 (-DV), listener_v2_backlog (another backlog),
 * listener_v2_port (binds PORT + 1), listener_v2_accept (accepts during start-up),
 * listener_v2_settings (a blocking listener with SO_KEEPALIVE: ioctl FIONBIO, setsockopt). */
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ttst.h"

#ifndef BACKLOG
#define BACKLOG 16
#endif
#ifndef PORT_DELTA
#define PORT_DELTA 0
#endif

long served;
int listen_fd = -1;
TTST_NO_TRANSFER(listen_fd); /* v2 keeps the descriptor its own start-up got */

static int make_listener(const char *where) {
  struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(atoi(where) + PORT_DELTA),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  const int unix_path = where[0] == '/';
  if (unix_path) {
    strncpy(un.sun_path, where, sizeof un.sun_path - 1);
    unlink(where);
  }
  int fd = socket(unix_path ? AF_UNIX : AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const int bound = unix_path ? bind(fd, (struct sockaddr *)&un, sizeof un) : bind(fd, (struct sockaddr *)&in, sizeof in);
  if (bound < 0 || listen(fd, BACKLOG) < 0) {
    perror("listener: cannot listen");
    exit(1);
  }
#ifdef SETTINGS /* blocking, with keep-alive: two changes to P's socket, held back to the commit */
  int zero = 0;
  ioctl(fd, FIONBIO, &zero);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
#else
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
#endif
#ifdef ACCEPT_AT_STARTUP
  accept(fd, NULL, NULL); /* takes a connection from the queue: must never reach P's socket */
#endif
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  listen_fd = make_listener(argv[1]);
  fprintf(stderr, "listener v%d: listening on fd %d\n", V, listen_fd);
  for (;;) {
    TTST_UPDATE_POINT();
    struct pollfd p = {.fd = listen_fd, .events = POLLIN};
    poll(&p, 1, -1);
    int c = accept(listen_fd, NULL, NULL);
    if (c < 0) continue;
    char line[64];
    int n = snprintf(line, sizeof line, "v%d served=%ld\n", V, ++served);
    if (write(c, line, n) != n) perror("listener: write");
    close(c);
  }
}
