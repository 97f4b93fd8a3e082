/* listener.c — a TCP server whose start-up always re-creates its listening socket,
 * as a real server's does: socket, setsockopt(SO_REUSEADDR), bind(127.0.0.1:PORT),
 * listen(BACKLOG), fcntl(F_SETFL, O_NONBLOCK) — no ttst_is_updating(), no inherited
 * descriptor passed in. A new version started by ttst-supervise runs the same
 * start-up, and the supervisor answers its bind with the old version's socket
 * (startup_adoption.h). Each connection gets one line "vV served=N" and is closed.
 * Built as: listener_v1/v2 (-DV), listener_v2_backlog (another backlog),
 * listener_v2_port (binds PORT + 1), listener_v2_accept (accepts during start-up). */
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
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

static int make_listener(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, BACKLOG) < 0) {
    perror("listener: cannot listen");
    exit(1);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
#ifdef ACCEPT_AT_STARTUP
  accept(fd, NULL, NULL); /* takes a connection from the queue: must never reach P's socket */
#endif
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  listen_fd = make_listener(atoi(argv[1]) + PORT_DELTA);
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
