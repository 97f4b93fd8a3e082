/* fdserver.c — a line server that keeps its listening socket on fd 10 and its log
 * file on fd 11, both close-on-exec. Built as v1 and v2 (-DVERSION). In future
 * mode (TTST_FUTURE_VERSION set, as the inject engine execs v2) it does not set up anything
 * and serves on the inherited descriptors: the test that F inherits P's sockets.
 *   fdserver LOGFILE      prints "port=N" then serves forever:
 *   each connection: one line in, "v<VERSION>:<line>\n" out, "v<VERSION> served <line>" logged */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef VERSION
#define VERSION 1
#endif

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (getenv("TTST_FUTURE_VERSION")) {
    if (fcntl(10, F_GETFD) < 0 || fcntl(11, F_GETFD) < 0) {
      fprintf(stderr, "fdserver v%d: future mode but fds 10/11 not inherited\n", VERSION);
      return 3;
    }
    dprintf(11, "v%d started as future\n", VERSION);
  } else {
    if (argc < 2) { fprintf(stderr, "usage: fdserver LOGFILE\n"); return 2; }
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16) ||
        getsockname(s, (struct sockaddr *)&a, &len)) { perror("socket"); return 1; }
    int log = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log < 0) { perror("log"); return 1; }
    if (dup3(s, 10, O_CLOEXEC) < 0 || dup3(log, 11, O_CLOEXEC) < 0) { perror("dup3"); return 1; }
    close(s);
    close(log);
    printf("port=%d\n", ntohs(a.sin_port));
  }
  for (;;) {
    int c = accept(10, NULL, NULL);
    if (c < 0) continue;
    char buf[256];
    ssize_t n = read(c, buf, sizeof buf - 1);
    if (n > 0) {
      buf[n] = 0;
      char *nl = strchr(buf, '\n');
      if (nl) *nl = 0;
      dprintf(c, "v%d:%s\n", VERSION, buf);
      dprintf(11, "v%d served %s\n", VERSION, buf);
    }
    close(c);
  }
}
