/* valuestore — issue 17's test program: what real C servers keep in pointer-typed
 * memory besides pointers to live state (stfw/README.md, "Values in pointer members").
 *
 * A single-threaded epoll TCP store (Redis-like, much smaller) whose state holds:
 *   - struct value's `void *ptr`, a tagged union: by its sibling bitfield
 *     `encoding` an integer (ENC_INT: SETINT, INCRBY), a string (char *), a
 *     struct list, a struct set or a struct table; TTST_TAGGED (one line, under
 *     -DVS_TAGGED) says so;
 *   - a free list of recycled values (DEL): encoding ENC_FREE, `ptr` still holding
 *     the freed string / list / set / table (a stale pointer);
 *   - the argument vector of the last command (`args.argv`): its slots point to the
 *     freed tokens;
 *   - an event table (`events[]`) whose clientData (void *) of closed connections
 *     still points to the freed client; live ones point to a client allocated by
 *     client_new(), a function returning struct client * (typed by that alone);
 *   - growable query buffers (char *qbuf) whose tails keep old bytes;
 *   - a writable command table whose names share suffixes ("set", "hset",
 *     "getset"; "incrby", "hincrby") and a pointer to the last command's name.
 * -DVS_VERSION=2: struct value gains a member and VERSION says 2 (nothing else).
 *
 * Protocol, one command per line, tokens separated by spaces:
 *   SET k s | SETINT k n | INCRBY k n | RPUSH k a.. | SADD k a.. | HSET k f v |
 *   HINCRBY k f n | GET k | DEL k | ADDR k (the address of k's value struct) |
 *   DUMP [prefix] (the whole state in one line; with a prefix only those keys) |
 *   EVENTS (the event table's slots holding a clientData; DUMP and EVENTS are not
 *   counted, so they change nothing they show) |
 *   LAST (the name of the command before this one) | VERSION | QUIT |
 *   PROG (argv[0] and its base name, kept as pointers into the argument strings) |
 *   SLOT g|h i [n|@key] (element i of a void * global array, g, or heap array, h: set
 *   to the integer n or key's value struct, or shown; holding integers, the array
 *   is mixed and a live-looking element in it refused)
 * Usage: valuestore PORT (0: any; prints "PORT n"). */
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

#ifndef VS_VERSION
#define VS_VERSION 1
#endif
#define MAX_FD 1024
#define NBUCKETS 64

enum { ENC_INT = 0, ENC_STR = 1, ENC_LIST = 2, ENC_SET = 3, ENC_TABLE = 4, ENC_FREE = 5 };

struct value {
  unsigned type : 4, encoding : 4;
  void *ptr;
  struct value *next_free;
#if VS_VERSION == 2
  unsigned long lru;
#endif
};
#ifdef VS_TAGGED
TTST_TAGGED(struct value.ptr, encoding, 0:int, 1:char, 2:struct list, 3:struct set, 4:struct table, 5:int);
#endif

struct lnode {
  char *s;
  struct lnode *next;
};
struct list {
  struct lnode *head, *tail;
  long len;
};
struct set {
  int n, cap;
  char **items;
};
struct tentry {
  char *field, *val;
  struct tentry *next;
};
struct table {
  long n;
  struct tentry *buckets[8];
};
struct entry {
  char *key;
  struct value *val;
  struct entry *next;
};
struct client {
  int fd;
  char *qbuf;
  size_t qlen, qcap;
  long served;
};
struct fevent {
  int fd, mask;
  void (*proc)(struct fevent *);
  void *clientData;
};
struct argvec {
  int argc, cap;
  char **argv;
};
struct cmd {
  const char *name;
  void (*fn)(struct client *);
  long calls;
};

struct entry *dict[NBUCKETS];
struct value *free_values;
struct argvec args;
struct fevent events[MAX_FD];
const char *last_name;
const char *prog_path, *prog_name; /* argv[0] and its base name: into the argument strings */
void *slots[8];                    /* SLOT g: a void * global array of integers or pointers */
void **cells;                      /* SLOT h: the same in a heap array */
int listen_fd, epoll_fd;

/* ---- replies ------------------------------------------------------------- */

static char out[1 << 16];
static size_t outlen;
static void put(const char *s) {
  size_t n = strlen(s);
  if (outlen + n < sizeof out) memcpy(out + outlen, s, n), outlen += n;
}
static void putnum(long long v) {
  char b[32];
  snprintf(b, sizeof b, "%lld", v);
  put(b);
}

/* ---- values ---------------------------------------------------------------- */

static struct entry **find(const char *key) {
  unsigned h = 5381;
  for (const char *p = key; *p; ++p) h = h * 33 + (unsigned char)*p;
  struct entry **e = &dict[h % NBUCKETS];
  while (*e && strcmp((*e)->key, key) != 0) e = &(*e)->next;
  return e;
}

static struct value *value_alloc(void) {
  struct value *v = free_values;
  if (v)
    free_values = v->next_free; /* recycled: ptr still holds what it held */
  else
    v = calloc(1, sizeof *v);
  v->next_free = NULL;
  return v;
}

struct list *list_new(void) { return calloc(1, sizeof(struct list)); }
struct set *set_new(void) { return calloc(1, sizeof(struct set)); }
struct table *table_new(void) { return calloc(1, sizeof(struct table)); }

static void value_release(struct value *v) {
  if (v->encoding == ENC_STR) free(v->ptr);
  if (v->encoding == ENC_LIST) {
    struct list *l = v->ptr;
    for (struct lnode *n = l->head, *next; n; n = next) next = n->next, free(n->s), free(n);
    free(l);
  }
  if (v->encoding == ENC_SET) {
    struct set *s = v->ptr;
    for (int i = 0; i < s->n; i++) free(s->items[i]);
    free(s->items), free(s);
  }
  if (v->encoding == ENC_TABLE) {
    struct table *t = v->ptr;
    for (int b = 0; b < 8; b++)
      for (struct tentry *e = t->buckets[b], *next; e; e = next) next = e->next, free(e->field), free(e->val), free(e);
    free(t);
  }
  v->encoding = ENC_FREE; /* ptr kept: a stale pointer on the free list */
  v->next_free = free_values;
  free_values = v;
}

/* The value of key argv[1], created with encoding `enc` when absent; NULL (and
 * an error reply) when it exists with another encoding. */
static struct value *lookup(int enc, int create) {
  struct entry **e = find(args.argv[1]);
  if (*e) {
    if (enc >= 0 && (int)(*e)->val->encoding != enc) return put("ERR wrong type"), NULL;
    return (*e)->val;
  }
  if (!create) return put("NOT_FOUND"), NULL;
  struct entry *n = calloc(1, sizeof *n);
  n->key = strdup(args.argv[1]);
  n->val = value_alloc();
  n->val->type = n->val->encoding = (unsigned)enc;
  n->val->ptr = enc == ENC_LIST ? (void *)list_new() : enc == ENC_SET ? (void *)set_new()
              : enc == ENC_TABLE ? (void *)table_new() : NULL;
  *e = n;
  return n->val;
}

static void drop(void) {
  struct entry **e = find(args.argv[1]), *gone = *e;
  if (!gone) return;
  *e = gone->next;
  value_release(gone->val);
  free(gone->key), free(gone);
}

static struct tentry *field(struct table *t, const char *f, int create) {
  struct tentry **e = &t->buckets[(unsigned char)f[0] % 8];
  while (*e && strcmp((*e)->field, f) != 0) e = &(*e)->next;
  if (!*e && create) {
    *e = calloc(1, sizeof **e), (*e)->field = strdup(f), (*e)->val = strdup("0");
    t->n++;
  }
  return *e;
}

/* ---- commands ------------------------------------------------------------- */

static int need(int n) {
  if (args.argc >= n) return 1;
  put("ERR arguments");
  return 0;
}
static void cmd_set(struct client *c) {
  (void)c;
  if (!need(3)) return;
  drop();
  struct value *v = lookup(ENC_STR, 1);
  v->ptr = strdup(args.argv[2]);
  put("OK");
}
static void cmd_setint(struct client *c) {
  (void)c;
  if (!need(3)) return;
  drop();
  lookup(ENC_INT, 1)->ptr = (void *)(uintptr_t)strtoull(args.argv[2], NULL, 0);
  put("OK");
}
static void cmd_incrby(struct client *c) {
  (void)c;
  if (!need(3)) return;
  struct value *v = lookup(ENC_INT, 1);
  if (!v) return;
  v->ptr = (void *)((uintptr_t)v->ptr + (uintptr_t)strtoll(args.argv[2], NULL, 0));
  put("VALUE "), putnum((long long)(uintptr_t)v->ptr);
}
static void cmd_rpush(struct client *c) {
  (void)c;
  struct value *v = need(3) ? lookup(ENC_LIST, 1) : NULL;
  if (!v) return;
  struct list *l = v->ptr;
  for (int i = 2; i < args.argc; i++) {
    struct lnode *n = calloc(1, sizeof *n);
    n->s = strdup(args.argv[i]);
    if (l->tail) l->tail->next = n;
    else l->head = n;
    l->tail = n, l->len++;
  }
  put("OK "), putnum(l->len);
}
static void cmd_sadd(struct client *c) {
  (void)c;
  struct value *v = need(3) ? lookup(ENC_SET, 1) : NULL;
  if (!v) return;
  struct set *s = v->ptr;
  for (int i = 2; i < args.argc; i++) {
    int dup = 0;
    for (int k = 0; k < s->n; k++) dup |= strcmp(s->items[k], args.argv[i]) == 0;
    if (dup) continue;
    if (s->n == s->cap) s->cap = s->cap ? 2 * s->cap : 2, s->items = realloc(s->items, s->cap * sizeof *s->items);
    s->items[s->n++] = strdup(args.argv[i]);
  }
  put("OK "), putnum(s->n);
}
static void cmd_hset(struct client *c) {
  (void)c;
  struct value *v = need(4) ? lookup(ENC_TABLE, 1) : NULL;
  if (!v) return;
  struct tentry *e = field(v->ptr, args.argv[2], 1);
  free(e->val), e->val = strdup(args.argv[3]);
  put("OK");
}
static void cmd_hincrby(struct client *c) {
  (void)c;
  struct value *v = need(4) ? lookup(ENC_TABLE, 1) : NULL;
  if (!v) return;
  struct tentry *e = field(v->ptr, args.argv[2], 1);
  char b[32];
  snprintf(b, sizeof b, "%lld", atoll(e->val) + atoll(args.argv[3]));
  free(e->val), e->val = strdup(b);
  put("VALUE "), put(b);
}
static void show(const struct value *v) {
  if (v->encoding == ENC_INT) putnum((long long)(uintptr_t)v->ptr);
  if (v->encoding == ENC_STR) put("\""), put(v->ptr), put("\"");
  if (v->encoding == ENC_LIST) {
    put("[");
    for (struct lnode *n = ((struct list *)v->ptr)->head; n; n = n->next) put(n->s), put(n->next ? "," : "");
    put("]");
  }
  if (v->encoding == ENC_SET) {
    const struct set *s = v->ptr;
    put("{");
    for (int i = 0; i < s->n; i++) put(s->items[i]), put(i + 1 < s->n ? "," : "");
    put("}");
  }
  if (v->encoding == ENC_TABLE) {
    const struct table *t = v->ptr;
    put("<");
    for (int b = 0; b < 8; b++)
      for (const struct tentry *e = t->buckets[b]; e; e = e->next) put(e->field), put("="), put(e->val), put(";");
    put(">");
  }
}
static void cmd_get(struct client *c) {
  (void)c;
  struct value *v = need(2) ? lookup(-1, 0) : NULL;
  if (v) put("VALUE "), show(v);
}
static void cmd_del(struct client *c) {
  (void)c;
  if (!need(2)) return;
  put(*find(args.argv[1]) ? "DELETED" : "NOT_FOUND");
  drop();
}
static void cmd_addr(struct client *c) {
  (void)c;
  struct value *v = need(2) ? lookup(-1, 0) : NULL;
  char b[40];
  if (v) snprintf(b, sizeof b, "ADDR %#lx", (unsigned long)(uintptr_t)v), put(b);
}
static void cmd_last(struct client *c) {
  (void)c;
  put("LAST "), put(last_name ? last_name : "-");
}
static void cmd_version(struct client *c) {
  (void)c;
  put(VS_VERSION == 1 ? "VERSION 1" : "VERSION 2");
}
/* SLOT g|h i [n|@key]: element i of slots (g) or cells (h) gets the integer n or
 * the address of key's value (no type says which, as in a user's generic table),
 * or is shown. */
static void cmd_slot(struct client *c) {
  (void)c;
  if (!need(3)) return;
  unsigned i = (unsigned)atoi(args.argv[2]) % 8;
  if (args.argv[1][0] == 'h' && !cells) cells = calloc(8, sizeof *cells);
  void **to = args.argv[1][0] == 'h' ? &cells[i] : &slots[i];
  if (args.argc == 3) { /* SLOT g|h i: the element as a number */
    put("SLOT "), putnum((long long)(uintptr_t)*to);
    return;
  }
  if (args.argv[3][0] != '@') {
    *to = (void *)(uintptr_t)strtoull(args.argv[3], NULL, 0);
  } else {
    struct entry **e = find(args.argv[3] + 1);
    *to = *e ? (void *)(*e)->val : NULL;
  }
  put("OK");
}
static void cmd_prog(struct client *c) {
  (void)c;
  put("PROG "), put(prog_path), put(" "), put(prog_name);
}
static void cmd_quit(struct client *c) {
  (void)c;
  put("BYE");
}
static void client_readable(struct fevent *ev);
/* Every slot of the event table that holds a clientData: fd, mask (0: closed, the
 * pointer stale), proc. */
static void cmd_events(struct client *c) {
  (void)c;
  put("EVENTS");
  for (int fd = 0; fd < MAX_FD; fd++)
    if (events[fd].clientData)
      put(" "), putnum(fd), put(":"), putnum(events[fd].mask), put(events[fd].proc == client_readable ? ":r" : ":?");
}
static void cmd_dump(struct client *c);

struct cmd commands[] = {
    {"set", cmd_set, 0},       {"getset", cmd_set, 0},      {"hset", cmd_hset, 0},   {"get", cmd_get, 0},
    {"setint", cmd_setint, 0}, {"incrby", cmd_incrby, 0},   {"hincrby", cmd_hincrby, 0},
    {"rpush", cmd_rpush, 0},   {"sadd", cmd_sadd, 0},       {"del", cmd_del, 0},     {"addr", cmd_addr, 0},
    {"dump", cmd_dump, 0},     {"events", cmd_events, 0},     {"last", cmd_last, 0},       {"version", cmd_version, 0}, {"quit", cmd_quit, 0},
    {"prog", cmd_prog, 0},     {"slot", cmd_slot, 0},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static int by_key(const void *a, const void *b) {
  return strcmp((*(struct entry *const *)a)->key, (*(struct entry *const *)b)->key);
}
/* Keys in order with their values; without a prefix also the free list's length,
 * every command's calls (DUMP's own excluded) and the open clients. */
static void cmd_dump(struct client *c) {
  (void)c;
  const char *prefix = args.argc > 1 ? args.argv[1] : "";
  size_t n = 0, cap = 1 << 14;
  struct entry **all = malloc(cap * sizeof *all); /* freed below: no stale typed pointers left */
  for (int b = 0; b < NBUCKETS; b++)
    for (struct entry *e = dict[b]; e && n < cap; e = e->next)
      if (strncmp(e->key, prefix, strlen(prefix)) == 0) all[n++] = e;
  qsort(all, n, sizeof *all, by_key);
  put("DUMP");
  for (size_t i = 0; i < n; i++) put(" "), put(all[i]->key), put("="), show(all[i]->val);
  free(all);
  if (*prefix) return;
  long nfree = 0;
  for (struct value *v = free_values; v; v = v->next_free) nfree++;
  put(" |free="), putnum(nfree), put(" |calls=");
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (commands[i].fn != cmd_dump && commands[i].fn != cmd_events) put(commands[i].name), put(":"), putnum(commands[i].calls), put(",");
  put(" |clients=");
  for (int fd = 0; fd < MAX_FD; fd++)
    if (events[fd].mask && events[fd].clientData) putnum(((struct client *)events[fd].clientData)->served), put(",");
}

/* ---- the argument vector and the command line ---------------------------- */

static void args_free(void) {
  for (int i = 0; i < args.argc; i++) free(args.argv[i]); /* the slots keep the freed pointers */
}
static int run_line(struct client *c, char *line) {
  args.argc = 0;
  for (char *tok = strtok(line, " "); tok; tok = strtok(NULL, " ")) {
    if (args.argc == args.cap) args.cap = args.cap ? 2 * args.cap : 4, args.argv = realloc(args.argv, args.cap * sizeof(char *));
    args.argv[args.argc++] = strdup(tok);
  }
  if (args.argc == 0) return 0;
  for (char *p = args.argv[0]; *p; ++p) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
  outlen = 0;
  struct cmd *found = NULL;
  for (size_t i = 0; i < NCOMMANDS && !found; i++)
    if (strcmp(commands[i].name, args.argv[0]) == 0) found = &commands[i];
  if (found) {
    found->fn(c);
    if (found->fn != cmd_dump && found->fn != cmd_events) found->calls++; /* observers change nothing they show */
    if (found->fn != cmd_last) last_name = found->name;
  } else {
    put("ERR unknown command");
  }
  put("\n");
  int quit = found && found->fn == cmd_quit;
  args_free();
  if (!found || (found->fn != cmd_dump && found->fn != cmd_events)) c->served++;
  for (size_t off = 0; off < outlen;) {
    ssize_t w = write(c->fd, out + off, outlen - off);
    if (w <= 0) return -1;
    off += (size_t)w;
  }
  return quit ? -1 : 0;
}

/* ---- connections ----------------------------------------------------------- */

struct client *client_new(int fd) {
  struct client *c = calloc(1, sizeof *c);
  c->fd = fd;
  return c;
}

static void client_close(struct fevent *ev) {
  struct client *c = ev->clientData;
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->qbuf), free(c);
  ev->mask = 0; /* clientData and proc kept: a stale pointer to the freed client */
}

static void client_readable(struct fevent *ev) {
  struct client *c = ev->clientData;
  if (c->qcap - c->qlen < 512) c->qcap = c->qcap ? 2 * c->qcap : 1024, c->qbuf = realloc(c->qbuf, c->qcap);
  ssize_t n = read(c->fd, c->qbuf + c->qlen, c->qcap - c->qlen - 1);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) return client_close(ev);
  c->qlen += (size_t)n;
  char *start = c->qbuf, *nl;
  while ((nl = memchr(start, '\n', c->qlen - (size_t)(start - c->qbuf))) != NULL) {
    *nl = '\0';
    if (nl > start && nl[-1] == '\r') nl[-1] = '\0';
    if (run_line(c, start) < 0) return client_close(ev);
    start = nl + 1;
  }
  c->qlen -= (size_t)(start - c->qbuf);
  memmove(c->qbuf, start, c->qlen); /* the tail past qlen keeps the old bytes */
}

static void accept_one(struct fevent *ev) {
  (void)ev;
  int fd = accept(listen_fd, NULL, NULL);
  if (fd < 0) return;
  if (fd >= MAX_FD) return (void)close(fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  events[fd] = (struct fevent){fd, EPOLLIN, client_readable, client_new(fd)};
  struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &e);
}

static void serve(void) {
  struct epoll_event evs[64];
  for (;;) {
    TTST_UPDATE_POINT();
    int n = epoll_wait(epoll_fd, evs, 64, -1);
    for (int i = 0; i < n; i++) {
      struct fevent *ev = &events[evs[i].data.fd];
      if (ev->mask) ev->proc(ev);
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: valuestore PORT\n");
    return 2;
  }
  prog_path = argv[0], prog_name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  if (!ttst_is_updating()) { /* a future version inherits the socket, epoll and state */
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(listen_fd, 128) < 0 ||
        getsockname(listen_fd, (struct sockaddr *)&a, &len) < 0) {
      perror("valuestore: cannot listen");
      return 1;
    }
    epoll_fd = epoll_create1(0);
    events[listen_fd] = (struct fevent){listen_fd, EPOLLIN, accept_one, NULL};
    struct epoll_event e = {.events = EPOLLIN, .data.fd = listen_fd};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &e);
    printf("PORT %d\n", ntohs(a.sin_port));
    fflush(stdout);
  }
  serve();
  return 0;
}
