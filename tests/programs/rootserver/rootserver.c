/* rootserver — a server whose whole state hangs off a local of main and whose
 * items are C inheritance by struct prefix (issue 17): the test program of the
 * roots on the stack and of the prefix views.
 *
 * `main` keeps `struct server *const srv = server_init(port)` and nothing else:
 * no global reaches the state, so the state transfer must find its root in main's
 * frame (built -O2: the local lives in a callee-saved register, described by a
 * location list) at the update point, and in F make main's local point at the
 * transferred server. The server holds an array of `struct item *` (the base)
 * whose elements are three derived structs, each beginning with the base's
 * members: `item_str` and `item_num` repeat them (a macro, as lighttpd's
 * DATA_UNSET does), `item_list` embeds the base as its first member. The base is 24
 * bytes; the derived ones 32, 40 and 56 (v2's item_str 40): no size is a multiple
 * of the base's. Each is allocated by its own constructor returning the derived
 * type (`new_str` returns `struct item_str *`), the evidence of its real type.
 *
 * One source, two versions (-DRS_VERSION=1|2): v2's item_str gains a member
 * (`cap`). -DRS_GLOBAL_ROOT also keeps the server in a global (the inheritance
 * alone, without the stack root). -DRS_ANON_ALLOC allocates every item through one
 * `void *` wrapper (no constructor says the derived type: the objects cannot be
 * typed, and the refusal must say why; `_anon_local` in BUILD: without the global,
 * named by its path from main's local). -DRS_CLASH makes a second, unrelated
 * struct pointer (`struct other *`) claim the first item (refused: two struct
 * types that are not prefixes of one another). -DRS_RENAMED_LOCAL (v2) renames
 * main's local: the past version's root has no local in the future version's
 * frames to hold it (refused: the state would be transferred but unreachable).
 * -DRS_STACK_POINTER gives list items a dangling pointer into the stack (refused,
 * the item named by its path from main's local).
 * -DRS_STRUCT_LOCAL keeps the state in a `struct server` local of main instead (its
 * address taken, so it stays in its stack slot at -O2): a struct local as the root;
 * with -DRS_RENAMED_LOCAL (v2) that struct local is renamed (refused the same way).
 * -DRS_PIECE_LOCAL keeps it in a struct local of two pointers that GCC splits into
 * two registers at -O2 (a DW_OP_piece location): each piece read, paired by member
 * and written; built with rbx and r12-r15 fixed, one piece lives in a stack slot.
 * With -DRS_PIECE_KEPT its address is used once, so it stays whole in its stack
 * slot. With -DRS_PIECE_DROPPED (v2) the loop no longer uses roots.wakeups: v2
 * keeps no place for it, so P's counter has nowhere to go (refused).
 *
 * Protocol (one command per line, one reply line):
 *   STR key value -> OK    NUM key n -> OK    LIST key a,b,c -> OK
 *   DUMP -> DUMP n kind:key=value;...   VERSION -> VERSION n
 * Usage: rootserver PORT (0: any; prints "PORT n" once listening). */
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

#ifndef RS_VERSION
#define RS_VERSION 1
#endif

enum kind { K_STR = 1, K_NUM = 2, K_LIST = 3 };

#define ITEM_BASE   \
  int kind;         \
  unsigned id;      \
  char *key;        \
  unsigned long hits

struct item { /* the base: 24 bytes */
  ITEM_BASE;
};

struct item_str { /* 32 bytes (v2: 40) */
  ITEM_BASE;
  char *value;
#if RS_VERSION >= 2
  unsigned long cap; /* v2: added */
#endif
};

struct item_num { /* 40 bytes */
  ITEM_BASE;
  long value;
  long updates;
};

struct item_list { /* 56 bytes: the base embedded */
  struct item base;
  char **elems;
  unsigned long n;
  unsigned long spare;
  unsigned long pad;
#ifdef RS_STACK_POINTER
  char *where; /* a dangling pointer into the stack (never read): refused, named by its path */
#endif
};

struct server {
  int epfd, listen_fd;
  unsigned long served;
  struct item **items; /* base pointers to derived objects */
  unsigned long n, cap;
#ifdef RS_CLASH
  struct other *odd; /* points at items[0]: a struct type that is no prefix of it */
#endif
};

#ifdef RS_CLASH
struct other {
  double x, y, z, w;
};
#endif

#ifdef RS_GLOBAL_ROOT
struct server *g_server;
#endif

#ifdef RS_ANON_ALLOC
static __attribute__((noinline)) void *xalloc(size_t n) {
  void *p = calloc(1, n);
  if (!p) exit(1);
  return p;
}
#define NEW(type) ((type *)xalloc(sizeof(type)))
#else
#define NEW(type) ((type *)calloc(1, sizeof(type)))
#endif

static __attribute__((noinline)) struct item_str *new_str(const char *key, const char *value) {
  struct item_str *s = NEW(struct item_str);
  s->kind = K_STR, s->key = strdup(key), s->value = strdup(value);
#if RS_VERSION >= 2
  s->cap = strlen(value) + 1;
#endif
  return s;
}

static __attribute__((noinline)) struct item_num *new_num(const char *key, long value) {
  struct item_num *n = NEW(struct item_num);
  n->kind = K_NUM, n->key = strdup(key), n->value = value, n->updates = 1;
  return n;
}

static __attribute__((noinline)) struct item_list *new_list(const char *key, char *csv) {
  struct item_list *l = NEW(struct item_list);
  l->base.kind = K_LIST, l->base.key = strdup(key);
#ifdef RS_STACK_POINTER
  char here = 0;
  l->where = &here;
  __asm__ volatile("" : : "r"(&here) : "memory"); /* keep the stack address */
#endif
  char *save = NULL;
  for (char *e = strtok_r(csv, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
    l->elems = realloc(l->elems, (l->n + 1) * sizeof *l->elems);
    l->elems[l->n++] = strdup(e);
  }
  return l;
}

static void add(struct server *srv, struct item *it) {
  if (srv->n == srv->cap) {
    srv->cap = srv->cap ? 2 * srv->cap : 4;
    srv->items = realloc(srv->items, srv->cap * sizeof *srv->items);
  }
  it->id = (unsigned)srv->n;
  srv->items[srv->n++] = it;
#ifdef RS_CLASH
  if (!srv->odd) srv->odd = (struct other *)(void *)it;
#endif
}

static __attribute__((noinline)) void server_setup(struct server *srv, int port) {
  srv->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(srv->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(srv->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(srv->listen_fd, 64) != 0) exit(1);
  socklen_t len = sizeof a;
  getsockname(srv->listen_fd, (struct sockaddr *)&a, &len);
  srv->epfd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = srv->listen_fd};
  epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->listen_fd, &ev);
  printf("PORT %d\n", ntohs(a.sin_port));
  fflush(stdout);
}

static __attribute__((noinline, unused)) struct server *server_init(int port) {
  struct server *srv = calloc(1, sizeof *srv);
  if (!srv) exit(1);
  server_setup(srv, port);
  return srv;
}

/* Every item, in order: kind:key=value (lists: elements joined by ','). */
static void dump(const struct server *srv, char *out, size_t size) {
  size_t at = (size_t)snprintf(out, size, "DUMP %lu ", srv->n);
  for (unsigned long i = 0; i < srv->n && at < size; i++) {
    const struct item *it = srv->items[i];
    if (it->kind == K_STR)
      at += (size_t)snprintf(out + at, size - at, "s:%s=%s;", it->key, ((const struct item_str *)it)->value);
    else if (it->kind == K_NUM)
      at += (size_t)snprintf(out + at, size - at, "n:%s=%ld/%ld;", it->key, ((const struct item_num *)it)->value,
                             ((const struct item_num *)it)->updates);
    else {
      const struct item_list *l = (const struct item_list *)it;
      at += (size_t)snprintf(out + at, size - at, "l:%s=", it->key);
      for (unsigned long k = 0; k < l->n && at < size; k++)
        at += (size_t)snprintf(out + at, size - at, "%s%s", k ? "," : "", l->elems[k]);
      if (at < size) at += (size_t)snprintf(out + at, size - at, ";");
    }
  }
  if (at < size) snprintf(out + at, size - at, "\n");
}

/* One request line from `fd`, answered. */
static __attribute__((noinline)) void answer(struct server *srv, int fd, char *line) {
  static char reply[65536];
  char *save = NULL;
  char *cmd = strtok_r(line, " \r\n", &save), *key = strtok_r(NULL, " \r\n", &save);
  char *value = strtok_r(NULL, "\r\n", &save);
  srv->served++;
  snprintf(reply, sizeof reply, "OK\n");
  if (cmd && strcmp(cmd, "STR") == 0 && key && value)
    add(srv, (struct item *)new_str(key, value));
  else if (cmd && strcmp(cmd, "NUM") == 0 && key && value)
    add(srv, (struct item *)new_num(key, atol(value)));
  else if (cmd && strcmp(cmd, "LIST") == 0 && key && value)
    add(srv, &new_list(key, value)->base);
  else if (cmd && strcmp(cmd, "DUMP") == 0)
    dump(srv, reply, sizeof reply);
  else if (cmd && strcmp(cmd, "VERSION") == 0)
    snprintf(reply, sizeof reply, "VERSION %d\n", RS_VERSION);
  else
    snprintf(reply, sizeof reply, "ERROR unknown command\n");
  (void)!write(fd, reply, strlen(reply));
}

static __attribute__((noinline)) void event(struct server *srv, int fd) {
  if (fd == srv->listen_fd) {
    int c = accept(srv->listen_fd, NULL, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c};
    if (c >= 0) epoll_ctl(srv->epfd, EPOLL_CTL_ADD, c, &ev);
    return;
  }
  char line[4096];
  ssize_t got = read(fd, line, sizeof line - 1);
  if (got <= 0) {
    epoll_ctl(srv->epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    return;
  }
  line[got] = 0;
  answer(srv, fd, line);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  /* The whole state: this local (a callee-saved register at -O2). */
#ifdef RS_STRUCT_LOCAL
  /* -DRS_STRUCT_LOCAL: the state hangs off a struct local of main held in its stack
   * slot (its address is taken, so it stays in memory at -O2 too). */
#ifdef RS_RENAMED_LOCAL
#define srv_state state /* v2 renames main's struct local: P's has no local to go to */
#endif
  struct server srv_state = {0};
  server_setup(&srv_state, argc > 1 ? atoi(argv[1]) : 0);
#define srv (&srv_state)
#elif defined(RS_PIECE_LOCAL)
  /* -DRS_PIECE_LOCAL: the state hangs off a struct local of two pointers that GCC
   * splits at -O2 into two registers (DW_OP_regN DW_OP_piece 8 DW_OP_regM DW_OP_piece 8):
   * a composite location whose pieces are roots, paired by member. */
  struct roots {
    struct server *srv;
    unsigned long *wakeups;
  } roots = {server_init(argc > 1 ? atoi(argv[1]) : 0), calloc(1, sizeof(unsigned long))};
#ifdef RS_PIECE_KEPT
  __asm__ volatile("" : : "r"(&roots) : "memory"); /* a refusal's advised fix: kept whole in its stack slot */
#endif
#define srv (roots.srv)
#else
#ifdef RS_RENAMED_LOCAL
#define srv state /* v2 renames main's local: P's `srv` has no local to go to */
#endif
  struct server *const srv = server_init(argc > 1 ? atoi(argv[1]) : 0);
#endif
#ifdef RS_GLOBAL_ROOT
  g_server = srv;
#endif
  for (;;) {
    TTST_UPDATE_POINT();
    struct epoll_event events[16];
    int n = epoll_wait(srv->epfd, events, 16, -1);
#if defined(RS_PIECE_LOCAL) && !defined(RS_PIECE_DROPPED)
    ++*roots.wakeups;
#endif
    for (int i = 0; i < n; i++) event(srv, events[i].data.fd);
  }
  return 0;
}
