/* kvserver — the integration test program for live updates.
 *
 * A single-threaded epoll TCP key-value server whose state exercises what a state
 * transfer must handle: a chained hash table of heap entries, an LRU doubly linked
 * circular list threaded through the entries with a sentinel in a global, heap
 * strings, a function-pointer command table, a config struct, static and
 * function-static counters, and per-connection heap buffers.
 *
 * One source, three versions (-DKV_VERSION=1|2|3), so that `diff` of the #if
 * branches is exactly the patch an administrator would deploy:
 *   v2: structural changes only (entry gains a member and reorders, hits widened;
 *       table gains a member and nbuckets widened; config gains a member and
 *       reorders; the set counter widened) — fully automatic.
 *   v3: a semantic change (the entry keeps its value length inside a separately
 *       allocated blob instead of a pointer + length pair) — needs user code; and
 *       a table of twice the buckets (2048; STATS says buckets=N): from v2 the
 *       transfer plugin kvserver_v3_xfer.c re-encodes the values and rehashes.
 *
 * Protocol, one command per line:
 *   SET key value   -> OK            GET key  -> VALUE value | NOT_FOUND
 *   DEL key         -> DELETED | NOT_FOUND     STATS    -> STATS k=v ...
 *   VERSION         -> VERSION n     QUIT     -> BYE (connection closed)
 *   DUMP            -> DUMP count=.. entries=.. sets=.. dels=.. gets=.. lost=.. sum=..
 *                      (the oracle of ttst-fi, stfw/fi: a checksum of every entry's
 *                      key, hits and value in LRU order, and the links checked: an
 *                      entry its hash chain cannot find, or a broken back link,
 *                      counts in lost); reads only, changes nothing
 * Usage: kvserver PORT  (PORT 0 picks a free port; the chosen port is printed on
 * stdout as "PORT n" and the server then serves until killed). */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ttst.h"

#ifndef KV_VERSION
#define KV_VERSION 1
#endif

#define MAX_LINE 4096
#define MAX_EVENTS 64
#define MAX_ARGS 3
#define MAX_CONNS 1024

/* ---- state ------------------------------------------------------------- */

#if KV_VERSION == 1
struct entry {
  char *key;
  char *value;
  size_t vlen;
  unsigned hits;
  struct entry *hnext;     /* hash chain */
  struct entry *lru_prev;  /* LRU list, most recent first */
  struct entry *lru_next;
};
#elif KV_VERSION == 2
struct entry {
  struct entry *hnext;     /* moved first */
  char *key;
  char *value;
  size_t vlen;
  uint64_t hits;           /* widened from unsigned */
  unsigned long created;   /* new: set-sequence number when created */
  struct entry *lru_prev;
  struct entry *lru_next;
};
#else
struct blob {
  size_t len;
  char bytes[];
};
struct entry {
  char *key;
  struct blob *value;      /* semantic: value + vlen became one blob */
  unsigned hits;
  struct entry *hnext;
  struct entry *lru_prev;
  struct entry *lru_next;
};
#endif

#if KV_VERSION == 2
struct table {
  size_t nbuckets;         /* widened from unsigned */
  struct entry **buckets;
  unsigned count;
  unsigned long lookups;   /* new */
};
#else
struct table {
  struct entry **buckets;
  unsigned nbuckets;
  unsigned count;
};
#endif

#if KV_VERSION == 2
struct config {
  int max_entries;
  int port;
  char name[16];
  int verbose;             /* new */
};
#else
struct config {
  int port;
  int max_entries;
  char name[16];
};
#endif

struct conn {
  int fd;
  size_t inlen;
  char inbuf[MAX_LINE];
};

typedef int (*command_fn)(struct conn *c, char **argv, int argc);
struct command {
  const char *name;
  int nargs;
  command_fn fn;
};

struct table table;
struct config config = {.port = 0, .max_entries = 1 << 22, .name = "kvserver"};
static struct entry lru_head; /* sentinel of the circular LRU list */
/* Connections by descriptor. The epoll instance holds descriptors; built with
 * -DKV_EPOLL_PTR it holds pointers instead (data.ptr = the connection, or
 * &listen_fd), as most event loops do: the kernel's copies of those pointers must
 * follow the objects into the future version's heap (stfw/xfer/epoll_rebuild.h). */
static struct conn *conns[MAX_CONNS];
static int listen_fd = -1;
static int epoll_fd = -1;
static unsigned long stats_gets;
#if KV_VERSION == 2
static long long stats_sets; /* widened from int */
#else
static int stats_sets;
#endif
static unsigned long stats_dels;

/* ---- hash table and LRU ------------------------------------------------ */

static uint64_t hash_key(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static void lru_unlink(struct entry *e) {
  e->lru_prev->lru_next = e->lru_next;
  e->lru_next->lru_prev = e->lru_prev;
}

static void lru_push_front(struct entry *e) {
  e->lru_next = lru_head.lru_next;
  e->lru_prev = &lru_head;
  lru_head.lru_next->lru_prev = e;
  lru_head.lru_next = e;
}

static struct entry **find_slot(const char *key) {
  struct entry **slot = &table.buckets[hash_key(key) % table.nbuckets];
  while (*slot && strcmp((*slot)->key, key) != 0) slot = &(*slot)->hnext;
  return slot;
}

static const char *entry_value(const struct entry *e, size_t *len) {
#if KV_VERSION == 3
  *len = e->value->len;
  return e->value->bytes;
#else
  *len = e->vlen;
  return e->value;
#endif
}

static void entry_set_value(struct entry *e, const char *v) {
#if KV_VERSION == 3
  size_t n = strlen(v);
  free(e->value);
  e->value = malloc(sizeof(struct blob) + n + 1);
  e->value->len = n;
  memcpy(e->value->bytes, v, n + 1);
#else
  free(e->value);
  e->value = strdup(v);
  e->vlen = strlen(v);
#endif
}

static void entry_free(struct entry *e) {
  free(e->key);
  free(e->value);
  free(e);
}

static void table_init(unsigned nbuckets) {
  table.buckets = calloc(nbuckets, sizeof *table.buckets);
  table.nbuckets = nbuckets;
  table.count = 0;
  lru_head.lru_next = lru_head.lru_prev = &lru_head;
}

static void evict_oldest(void) {
  struct entry *victim = lru_head.lru_prev;
  if (victim == &lru_head) return;
  struct entry **slot = find_slot(victim->key);
  *slot = victim->hnext;
  lru_unlink(victim);
  entry_free(victim);
  table.count--;
}

/* ---- commands ---------------------------------------------------------- */

static void reply(struct conn *c, const char *fmt, const char *a, size_t alen) {
  char buf[MAX_LINE + 64];
  int n = alen ? snprintf(buf, sizeof buf, fmt, (int)alen, a) : snprintf(buf, sizeof buf, "%s", fmt);
  if (n > (int)sizeof buf - 1) n = sizeof buf - 1;
  for (int off = 0; off < n;) {
    ssize_t w = write(c->fd, buf + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += (int)w;
  }
}

static int cmd_set(struct conn *c, char **argv, int argc) {
  (void)argc;
  struct entry **slot = find_slot(argv[1]);
  struct entry *e = *slot;
  if (e) {
    lru_unlink(e);
  } else {
    if ((int)table.count >= config.max_entries) evict_oldest();
    slot = find_slot(argv[1]);
    e = calloc(1, sizeof *e);
    e->key = strdup(argv[1]);
    *slot = e;
    table.count++;
#if KV_VERSION == 2
    e->created = (unsigned long)stats_sets + 1;
#endif
  }
  entry_set_value(e, argv[2]);
  lru_push_front(e);
  stats_sets++;
  reply(c, "OK\n", NULL, 0);
  return 0;
}

static int cmd_get(struct conn *c, char **argv, int argc) {
  (void)argc;
  struct entry *e = *find_slot(argv[1]);
  stats_gets++;
#if KV_VERSION == 2
  table.lookups++;
#endif
  if (!e) {
    reply(c, "NOT_FOUND\n", NULL, 0);
    return 0;
  }
  e->hits++;
  lru_unlink(e);
  lru_push_front(e);
  size_t len;
  const char *v = entry_value(e, &len);
  if (len == 0)
    reply(c, "VALUE \n", NULL, 0);
  else
    reply(c, "VALUE %.*s\n", v, len);
  return 0;
}

static int cmd_del(struct conn *c, char **argv, int argc) {
  (void)argc;
  struct entry **slot = find_slot(argv[1]);
  struct entry *e = *slot;
  if (!e) {
    reply(c, "NOT_FOUND\n", NULL, 0);
    return 0;
  }
  *slot = e->hnext;
  lru_unlink(e);
  entry_free(e);
  table.count--;
  stats_dels++;
  reply(c, "DELETED\n", NULL, 0);
  return 0;
}

/* STATS, and DUMP (argv[0] "DUMP"; in this function so that the program's
 * functions stay those the identity tests count). */
static int cmd_stats(struct conn *c, char **argv, int argc) {
  (void)argc;
  char line[256];
  if (argv[0][0] == 'D') {
    unsigned long n = 0, lost = 0;
    uint64_t sum = 1469598103934665603ull;
    for (struct entry *e = lru_head.lru_next; e != &lru_head && n <= table.count; e = e->lru_next, n++) {
      size_t len;
      const char *v = entry_value(e, &len);
      unsigned long long hits = e->hits;
      if (*find_slot(e->key) != e || e->lru_next->lru_prev != e) lost++;
      const unsigned char *parts[4] = {(const unsigned char *)e->key, (const unsigned char *)&hits,
                                       (const unsigned char *)v, (const unsigned char *)&len};
      size_t sizes[4] = {strlen(e->key) + 1, sizeof hits, len, sizeof len};
      for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < sizes[k]; i++) sum = (sum ^ parts[k][i]) * 1099511628211ull; /* FNV-1a */
    }
    snprintf(line, sizeof line, "DUMP count=%u entries=%lu sets=%lld dels=%lu gets=%lu lost=%lu sum=%016llx\n",
             (unsigned)table.count, n, (long long)stats_sets, stats_dels, stats_gets, lost,
             (unsigned long long)sum);
    reply(c, line, NULL, 0);
    return 0;
  }
#if KV_VERSION == 3
  snprintf(line, sizeof line, "STATS count=%u gets=%lu sets=%lld dels=%lu buckets=%u\n", (unsigned)table.count,
           stats_gets, (long long)stats_sets, stats_dels, table.nbuckets);
#else
  snprintf(line, sizeof line, "STATS count=%u gets=%lu sets=%lld dels=%lu\n", (unsigned)table.count,
           stats_gets, (long long)stats_sets, stats_dels);
#endif
  reply(c, line, NULL, 0);
  return 0;
}

static int cmd_version(struct conn *c, char **argv, int argc) {
  (void)argv;
  (void)argc;
  char line[32];
  snprintf(line, sizeof line, "VERSION %d\n", KV_VERSION);
  reply(c, line, NULL, 0);
  return 0;
}

static int cmd_quit(struct conn *c, char **argv, int argc) {
  (void)argv;
  (void)argc;
  reply(c, "BYE\n", NULL, 0);
  return -1;
}

/* Writable on purpose: a table of function pointers is state to transfer. */
static struct command commands[] = {
    {"SET", 3, cmd_set},         {"GET", 2, cmd_get},   {"DEL", 2, cmd_del},
    {"STATS", 1, cmd_stats},     {"VERSION", 1, cmd_version}, {"QUIT", 1, cmd_quit},
    {"DUMP", 1, cmd_stats},
};

/* ---- connections ------------------------------------------------------- */

static int handle_line(struct conn *c, char *line) {
  static unsigned long requests; /* function-static counter: state ID handle_line::requests */
  requests++;
  char *argv[MAX_ARGS] = {0};
  int argc = 0;
  char *p = line;
  while (*p && argc < MAX_ARGS) {
    while (*p == ' ') p++;
    if (!*p) break;
    argv[argc++] = p;
    if (argc == MAX_ARGS) break; /* the last argument keeps its spaces */
    while (*p && *p != ' ') p++;
    if (*p) *p++ = '\0';
  }
  if (argc == 0) return 0;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(argv[0], commands[i].name) == 0) {
      if (argc != commands[i].nargs) {
        reply(c, "ERROR wrong number of arguments\n", NULL, 0);
        return 0;
      }
      return commands[i].fn(c, argv, argc);
    }
  }
  reply(c, "ERROR unknown command\n", NULL, 0);
  return 0;
}

static void conn_close(struct conn *c) {
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
  conns[c->fd] = NULL;
  close(c->fd);
  free(c);
}

/* One read per readiness event: the level-triggered epoll reports the connection
 * again if more is waiting, so a client that never pauses cannot keep the server
 * away from its event loop (and its update point). */
static void conn_readable(struct conn *c) {
  {
    ssize_t n = read(c->fd, c->inbuf + c->inlen, sizeof c->inbuf - 1 - c->inlen);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      conn_close(c);
      return;
    }
    c->inlen += (size_t)n;
    char *start = c->inbuf, *nl;
    while ((nl = memchr(start, '\n', c->inlen - (size_t)(start - c->inbuf))) != NULL) {
      *nl = '\0';
      if (nl > start && nl[-1] == '\r') nl[-1] = '\0';
      if (handle_line(c, start) < 0) {
        conn_close(c);
        return;
      }
      start = nl + 1;
    }
    c->inlen -= (size_t)(start - c->inbuf);
    memmove(c->inbuf, start, c->inlen);
    if (c->inlen == sizeof c->inbuf - 1) { /* line too long: drop the connection */
      conn_close(c);
      return;
    }
  }
}

static void accept_all(void) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK);
    if (fd < 0) return;
    if (fd >= MAX_CONNS) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = calloc(1, sizeof *c);
    c->fd = fd;
    conns[fd] = c;
#ifdef KV_EPOLL_PTR
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
#else
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
#endif
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }
}

static int make_listener(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0) {
    perror("kvserver: cannot listen");
    exit(1);
  }
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  config.port = ntohs(a.sin_port);
  return fd;
}

/* The event loop: the update point sits at its top, so a server idle in
 * epoll_wait is quiescent as it stands. */
static void serve(void) {
  struct epoll_event evs[MAX_EVENTS];
  for (;;) {
    TTST_UPDATE_POINT();
    int n = epoll_wait(epoll_fd, evs, MAX_EVENTS, -1);
    for (int i = 0; i < n; i++) {
#ifdef KV_EPOLL_PTR
      if (evs[i].data.ptr == &listen_fd)
        accept_all();
      else
        conn_readable(evs[i].data.ptr);
#else
      int fd = evs[i].data.fd;
      if (fd == listen_fd)
        accept_all();
      else if (fd >= 0 && fd < MAX_CONNS && conns[fd])
        conn_readable(conns[fd]);
#endif
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: kvserver PORT\n");
    return 2;
  }
#if KV_VERSION == 2
  config.verbose = getenv("KV_VERBOSE") != NULL;
#endif
  /* A future version inherits the listener, the epoll instance and the table. */
  if (!ttst_is_updating()) {
    table_init(KV_VERSION == 3 ? 2048 : 1024);
    listen_fd = make_listener(atoi(argv[1]));
    epoll_fd = epoll_create1(0);
#ifdef KV_EPOLL_PTR
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_fd};
#else
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listen_fd};
#endif
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);
    printf("PORT %d\n", config.port);
    fflush(stdout);
  }
  serve();
  return 0;
}
