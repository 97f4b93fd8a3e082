/* frameserver — a server whose update point's frame holds a pointer to a start-up
 * object: the live-update test for F's own frames (issue 13, item 5).
 *
 * Start-up creates the event loop object (`create_loop`: epoll instance, listening
 * socket, the key-value table) and hands it to the loop function `serve` as a
 * parameter, which keeps it in a local and never reads the global again. In F (v2
 * run to its first update point) that local points at v2's start-up loop; the
 * transfer overwrites `g_loop` with P's loop and frees the start-up one, so the
 * local must be remapped to P's loop, or F would serve freed memory (or, were the
 * object kept, v2's empty start-up table).
 *
 * One source, two versions (-DFS_VERSION=1|2): v2's `struct item` gains a member
 * (`hits`) and its loop a counter of updates. -DFS_SPLIT (v1 only) makes the old
 * version's second root `g_spare` point to a second loop object: in v2 both globals
 * point to the one start-up loop, so after the transfer it has two different
 * counterparts and the frame's local cannot be remapped without guessing (the
 * update must be refused, naming the local). -DFS_LAST: serve keeps the item of
 * the last SET in a local (`last`, LAST answers its key): a pointer local that
 * requests change, carried into v2's frame. -DFS_MAIN_KEEPS_NOTHING (v2): main
 * keeps no pointer to the loop, so at -O2 only serve's register holds it when F
 * stops at its update point (the supervisor's part: registers).
 *
 * Protocol (kvserver's subset, one command per line, one read per request):
 *   SET key value -> OK    GET key -> VALUE value | NOT_FOUND
 *   VERSION -> VERSION n   LOOPS -> LOOPS n (the loop objects the server knows)
 * Usage: frameserver PORT (0: any; prints "PORT n" once listening). */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ttst.h"

#ifndef FS_VERSION
#define FS_VERSION 1
#endif
#define BUCKETS 64

struct item {
  char *key;
  char *value;
#if FS_VERSION >= 2
  unsigned long hits; /* v2: added */
#endif
  struct item *next;
};

struct loop {
  int epfd;
  int listen_fd;
  unsigned long served;
#if FS_VERSION >= 2
  unsigned long generation; /* v2: added */
#endif
  struct item *table[BUCKETS];
};

struct loop *g_loop;  /* the root of the state */
struct loop *g_spare; /* a second root: the same loop, or (FS_SPLIT) another */

static unsigned bucket(const char *key) {
  unsigned h = 5381;
  while (*key) h = h * 33 + (unsigned char)*key++;
  return h % BUCKETS;
}

static struct item *find(struct loop *l, const char *key) {
  for (struct item *it = l->table[bucket(key)]; it; it = it->next)
    if (strcmp(it->key, key) == 0) return it;
  return NULL;
}

static struct loop *create_loop(int port) {
  struct loop *l = calloc(1, sizeof *l);
  if (!l) exit(1);
  l->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(l->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(l->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(l->listen_fd, 64) != 0) exit(1);
  socklen_t len = sizeof a;
  getsockname(l->listen_fd, (struct sockaddr *)&a, &len);
  l->epfd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = l->listen_fd};
  epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->listen_fd, &ev);
  printf("PORT %d\n", ntohs(a.sin_port));
  fflush(stdout);
  return l;
}

/* One request line from `fd`, answered. With FS_LAST: `last` is the item of the
 * last SET (LAST answers its key), the item SET now returned. */
#ifdef FS_LAST
static __attribute__((noinline)) struct item *answer(struct loop *l, int fd, char *line, struct item *last) {
#else
static void answer(struct loop *l, int fd, char *line) {
#endif
  char reply[512], *save = NULL;
  char *cmd = strtok_r(line, " \r\n", &save), *key = strtok_r(NULL, " \r\n", &save);
  char *value = strtok_r(NULL, "\r\n", &save);
  l->served++;
  if (cmd && strcmp(cmd, "SET") == 0 && key && value) {
    struct item *it = find(l, key);
    if (!it) {
      it = calloc(1, sizeof *it);
      it->key = strdup(key);
      it->next = l->table[bucket(key)];
      l->table[bucket(key)] = it;
    }
    free(it->value);
    it->value = strdup(value);
    snprintf(reply, sizeof reply, "OK\n");
#ifdef FS_LAST
    last = it;
  } else if (cmd && strcmp(cmd, "LAST") == 0) {
    snprintf(reply, sizeof reply, "LAST %s\n", last ? last->key : "none");
#endif
  } else if (cmd && strcmp(cmd, "GET") == 0 && key) {
    struct item *it = find(l, key);
    snprintf(reply, sizeof reply, it ? "VALUE %s\n" : "NOT_FOUND\n", it ? it->value : "");
  } else if (cmd && strcmp(cmd, "VERSION") == 0) {
    snprintf(reply, sizeof reply, "VERSION %d\n", FS_VERSION);
  } else if (cmd && strcmp(cmd, "LOOPS") == 0) {
    snprintf(reply, sizeof reply, "LOOPS %d\n", g_spare == g_loop ? 1 : 2);
  } else {
    snprintf(reply, sizeof reply, "ERROR unknown command\n");
  }
  (void)!write(fd, reply, strlen(reply));
#ifdef FS_LAST
  return last;
#endif
}

/* The event loop: the loop object comes in as a parameter and lives in a local (a
 * stack slot at -O0, a callee-saved register at -O2), never re-read from g_loop. */
#ifdef FS_READS_GLOBAL
/* -DFS_READS_GLOBAL (v2): the remap refusal's advised fix: start-up creates the loop
 * only when not updating (the transfer brings P's into g_loop), and the loop body
 * reads g_loop after the update point: no frame holds a start-up loop there. */
static __attribute__((noinline)) void serve(void) {
  struct epoll_event events[16];
  for (;;) {
    TTST_UPDATE_POINT();
    struct loop *l = g_loop;
#else
static __attribute__((noinline)) void serve(struct loop *loop) {
  struct loop *l = loop;
  struct epoll_event events[16];
#ifdef FS_LAST
  struct item *last = NULL; /* a pointer local live across the update point, changed by requests */
#endif
  for (;;) {
    TTST_UPDATE_POINT();
#endif
    int n = epoll_wait(l->epfd, events, 16, -1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == l->listen_fd) {
        int c = accept(l->listen_fd, NULL, NULL);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = c};
        if (c >= 0) epoll_ctl(l->epfd, EPOLL_CTL_ADD, c, &ev);
        continue;
      }
      char line[512];
      ssize_t got = read(fd, line, sizeof line - 1);
      if (got <= 0) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
        continue;
      }
      line[got] = 0;
#ifdef FS_LAST
      last = answer(l, fd, line, last);
#else
      answer(l, fd, line);
#endif
    }
  }
}

#if defined(FS_MAIN_KEEPS_NOTHING) || defined(FS_READS_GLOBAL)
static __attribute__((noinline)) void start(int port) { g_loop = g_spare = create_loop(port); }
#endif

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN); /* clients (and the tests' closed stdout pipe) may go away */
#if defined(FS_READS_GLOBAL)
  if (!ttst_is_updating()) start(argc > 1 ? atoi(argv[1]) : 0);
  serve();
#elif defined(FS_MAIN_KEEPS_NOTHING)
  /* main keeps no pointer to the loop: at -O2 only serve's register holds it */
  start(argc > 1 ? atoi(argv[1]) : 0);
  serve(g_loop);
#else
  struct loop *loop = create_loop(argc > 1 ? atoi(argv[1]) : 0);
  g_loop = loop;
#ifdef FS_SPLIT
  g_spare = calloc(1, sizeof *g_spare);
#else
  g_spare = loop;
#endif
  serve(loop);
#endif
  return 0;
}
