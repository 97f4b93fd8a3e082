/* bankserver — the benchmark server of issue 15: a pointer-rich TCP server whose
 * state grows with one command-line number, so that live updates can be measured
 * at 10 k to 4 M accounts (supervisor/bench/update_bench.cc) and tested at small
 * sizes (bankserver_test.cc).
 *
 * State: a chained hash table of accounts (its bucket array sized from the
 * command line) with heap-string names, a per-account linked list of transactions
 * (newest first, each pointing at the other account of a transfer), a `void *`
 * member holding a profile (TTST_POINTS_TO) and a `void *` container (a ring of
 * the accounts of the latest transfers), per-account pointers into a global table
 * of fee policies (function pointers), and a writable function-pointer command
 * table.
 *
 * One source, two versions (-DBANK_VERSION=1|2): v2 reorders and widens struct
 * account and struct txn and adds a member to each, so every account and every
 * transaction is transformed by the transfer (automatic: structural only).
 *
 * Usage: bankserver PORT [ACCOUNTS]  (PORT 0 picks a free port, printed on stdout
 * as "PORT n"; ACCOUNTS accounts "acct0".. are preloaded, each with balance 1000
 * and an opening transaction, every 64th with a profile.)
 * Protocol, one command per line:
 *   PING -> PONG                       BAL name -> BALANCE n | NOT_FOUND
 *   OPEN name amount -> OK | EXISTS    DEPOSIT name amount -> BALANCE n | NOT_FOUND
 *   XFER from to amount -> OK | NOT_FOUND | NO_FUNDS
 *   VISIT name -> VISITS n (creates the profile)   TXNS name -> TXNS n
 *   SUM -> SUM accounts=N txns=N total=N hash=HEX (the whole state, layout-free)
 *   VERSION -> VERSION n               QUIT -> BYE */
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

#ifndef BANK_VERSION
#define BANK_VERSION 1
#endif

#define MAX_LINE 4096
#define MAX_EVENTS 64
#define MAX_ARGS 4
#define MAX_CONNS 1024
#define RING 256

/* ---- state ------------------------------------------------------------- */

struct account;

#if BANK_VERSION == 1
struct txn {
  long amount;
  unsigned seq;
  struct txn *next;       /* older transaction of the same account */
  struct account *peer;   /* the other side of a transfer, NULL for a deposit */
};
#else
struct txn {
  struct txn *next;       /* moved first */
  struct account *peer;
  long long amount;
  uint64_t seq;           /* widened */
  unsigned flags;         /* new: 1 = a transfer */
};
#endif

struct profile {
  char tier[8];
  unsigned visits;
};

struct policy {
  const char *name;
  long (*fee)(long amount);
};

#if BANK_VERSION == 1
struct account {
  char *name;
  long balance;
  unsigned ntxn;
  struct txn *txns;             /* newest first */
  const struct policy *policy;  /* into policies[] */
  void *ext;                    /* struct profile, or NULL */
  struct account *hnext;        /* hash chain */
};
#else
struct account {
  struct account *hnext;        /* moved first */
  char *name;
  long long balance;
  uint64_t ntxn;                /* widened */
  uint64_t opened;              /* new: the sequence number of its first transaction */
  struct txn *txns;
  const struct policy *policy;
  void *ext;
};
#endif
TTST_POINTS_TO(struct account.ext, struct profile);

struct table {
  struct account **buckets;
  size_t nbuckets;
  size_t count;
};

/* The `void *` container: the accounts of the latest transfers, a ring. */
struct ring {
  void **slots;
  size_t next;
  size_t cap;
};

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

static long fee_none(long amount) { (void)amount; return 0; }
static long fee_flat(long amount) { return amount > 100 ? 1 : 0; }
static long fee_percent(long amount) { return amount / 100; }
struct policy policies[] = {{"none", fee_none}, {"flat", fee_flat}, {"percent", fee_percent}};

struct table accounts;
struct ring recent;
static unsigned long next_seq = 1;
static unsigned long total_txns;
static struct conn *conns[MAX_CONNS];
static int listen_fd = -1;
static int epoll_fd = -1;

/* ---- accounts ---------------------------------------------------------- */

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static struct account **find_slot(const char *name) {
  struct account **slot = &accounts.buckets[hash_str(name) % accounts.nbuckets];
  while (*slot && strcmp((*slot)->name, name) != 0) slot = &(*slot)->hnext;
  return slot;
}

static struct account *find(const char *name) { return *find_slot(name); }

static void add_txn(struct account *a, long amount, struct account *peer) {
  struct txn *t = calloc(1, sizeof *t);
  t->amount = amount;
  t->seq = next_seq++;
  t->peer = peer;
#if BANK_VERSION == 2
  t->flags = peer != NULL;
#endif
  t->next = a->txns;
  a->txns = t;
  a->ntxn++;
  total_txns++;
}

static struct account *open_account(const char *name, long amount, size_t index) {
  struct account **slot = find_slot(name);
  struct account *a = calloc(1, sizeof *a);
  a->name = strdup(name);
  a->balance = amount;
  a->policy = &policies[index % 3];
#if BANK_VERSION == 2
  a->opened = next_seq;
#endif
  add_txn(a, amount, NULL);
  a->hnext = *slot;
  *slot = a;
  accounts.count++;
  return a;
}

static struct profile *profile_of(struct account *a) {
  if (!a->ext) {
    struct profile *p = calloc(1, sizeof *p);
    memcpy(p->tier, "basic", 6);
    a->ext = p;
  }
  return a->ext;
}

static void table_init(size_t expected) {
  size_t n = 1024;
  while (n < expected) n *= 2;
  accounts.buckets = calloc(n, sizeof *accounts.buckets);
  accounts.nbuckets = n;
  recent.slots = calloc(RING, sizeof *recent.slots);
  recent.cap = RING;
}

static void preload(size_t n) {
  char name[32];
  for (size_t i = 0; i < n; i++) {
    snprintf(name, sizeof name, "acct%zu", i);
    struct account *a = open_account(name, 1000, i);
    if (i % 64 == 0) profile_of(a)->visits = (unsigned)(i % 7);
  }
}

/* ---- the checksum: the whole state, independent of layout and addresses --- */

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

static uint64_t account_hash(const struct account *a) {
  uint64_t h = mix(hash_str(a->name), (uint64_t)a->balance);
  h = mix(h, (uint64_t)a->ntxn);
  h = mix(h, (uint64_t)(a->policy - policies));
  h = mix(h, (uint64_t)a->policy->fee(1000));
  if (a->ext) {
    const struct profile *p = a->ext;
    h = mix(mix(h, hash_str(p->tier)), p->visits);
  }
  for (const struct txn *t = a->txns; t; t = t->next) {
    h = mix(h, (uint64_t)t->amount);
    h = mix(h, (uint64_t)t->seq);
    h = mix(h, t->peer ? hash_str(t->peer->name) : 0);
  }
  return h;
}

static void checksum(char *out, size_t size) {
  uint64_t sum = 0, txns = 0;
  long long total = 0;
  size_t count = 0;
  for (size_t b = 0; b < accounts.nbuckets; b++)
    for (const struct account *a = accounts.buckets[b]; a; a = a->hnext) {
      sum += account_hash(a);  /* order-free */
      txns += a->ntxn;
      total += a->balance;
      count++;
    }
  uint64_t ring = 0;
  for (size_t i = 0; i < recent.cap; i++) {
    const struct account *a = recent.slots[(recent.next + i) % recent.cap];
    ring = mix(ring, a ? hash_str(a->name) : 0);
  }
  snprintf(out, size, "SUM accounts=%zu txns=%llu total=%lld hash=%016llx\n", count, (unsigned long long)txns, total,
           (unsigned long long)(sum ^ ring ^ (uint64_t)next_seq));
}

/* ---- commands ---------------------------------------------------------- */

static void reply(struct conn *c, const char *text) {
  size_t n = strlen(text);
  for (size_t off = 0; off < n;) {
    ssize_t w = write(c->fd, text + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += (size_t)w;
  }
}

static void reply_number(struct conn *c, const char *word, long long v) {
  char line[64];
  snprintf(line, sizeof line, "%s %lld\n", word, v);
  reply(c, line);
}

static int cmd_ping(struct conn *c, char **argv, int argc) {
  (void)argv, (void)argc;
  reply(c, "PONG\n");
  return 0;
}

static int cmd_bal(struct conn *c, char **argv, int argc) {
  (void)argc;
  struct account *a = find(argv[1]);
  if (a) reply_number(c, "BALANCE", a->balance);
  else reply(c, "NOT_FOUND\n");
  return 0;
}

static int cmd_open(struct conn *c, char **argv, int argc) {
  (void)argc;
  if (find(argv[1])) {
    reply(c, "EXISTS\n");
    return 0;
  }
  open_account(argv[1], atol(argv[2]), accounts.count);
  reply(c, "OK\n");
  return 0;
}

static int cmd_deposit(struct conn *c, char **argv, int argc) {
  (void)argc;
  struct account *a = find(argv[1]);
  if (!a) {
    reply(c, "NOT_FOUND\n");
    return 0;
  }
  a->balance += atol(argv[2]);
  add_txn(a, atol(argv[2]), NULL);
  reply_number(c, "BALANCE", a->balance);
  return 0;
}

static int cmd_xfer(struct conn *c, char **argv, int argc) {
  (void)argc;
  struct account *from = find(argv[1]), *to = find(argv[2]);
  long amount = atol(argv[3]);
  if (!from || !to) {
    reply(c, "NOT_FOUND\n");
    return 0;
  }
  long fee = from->policy->fee(amount);
  if (amount <= 0 || from->balance < amount + fee) {
    reply(c, "NO_FUNDS\n");
    return 0;
  }
  from->balance -= amount + fee;
  to->balance += amount;
  add_txn(from, -amount - fee, to);
  add_txn(to, amount, from);
  recent.slots[recent.next] = from;
  recent.next = (recent.next + 1) % recent.cap;
  reply(c, "OK\n");
  return 0;
}

static int cmd_visit(struct conn *c, char **argv, int argc) {
  (void)argc;
  struct account *a = find(argv[1]);
  if (!a) {
    reply(c, "NOT_FOUND\n");
    return 0;
  }
  reply_number(c, "VISITS", ++profile_of(a)->visits);
  return 0;
}

static int cmd_txns(struct conn *c, char **argv, int argc) {
  (void)argc;
  struct account *a = find(argv[1]);
  if (!a) {
    reply(c, "NOT_FOUND\n");
    return 0;
  }
  long long n = 0;
  for (const struct txn *t = a->txns; t; t = t->next) n++;
  reply_number(c, "TXNS", n);
  return 0;
}

static int cmd_sum(struct conn *c, char **argv, int argc) {
  (void)argv, (void)argc;
  char line[160];
  checksum(line, sizeof line);
  reply(c, line);
  return 0;
}

static int cmd_version(struct conn *c, char **argv, int argc) {
  (void)argv, (void)argc;
  reply_number(c, "VERSION", BANK_VERSION);
  return 0;
}

static int cmd_quit(struct conn *c, char **argv, int argc) {
  (void)argv, (void)argc;
  reply(c, "BYE\n");
  return -1;
}

/* Writable on purpose: a table of function pointers is state to transfer. */
static struct command commands[] = {
    {"PING", 1, cmd_ping}, {"BAL", 2, cmd_bal},     {"OPEN", 3, cmd_open},       {"DEPOSIT", 3, cmd_deposit},
    {"XFER", 4, cmd_xfer}, {"VISIT", 2, cmd_visit}, {"TXNS", 2, cmd_txns},       {"SUM", 1, cmd_sum},
    {"VERSION", 1, cmd_version}, {"QUIT", 1, cmd_quit},
};

/* ---- connections ------------------------------------------------------- */

static int handle_line(struct conn *c, char *line) {
  char *argv[MAX_ARGS] = {0};
  int argc = 0;
  for (char *p = line; *p && argc < MAX_ARGS;) {
    while (*p == ' ') p++;
    if (!*p) break;
    argv[argc++] = p;
    while (*p && *p != ' ') p++;
    if (*p) *p++ = '\0';
  }
  if (argc == 0) return 0;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[0], commands[i].name) == 0) {
      if (argc != commands[i].nargs) {
        reply(c, "ERROR wrong number of arguments\n");
        return 0;
      }
      return commands[i].fn(c, argv, argc);
    }
  reply(c, "ERROR unknown command\n");
  return 0;
}

static void conn_close(struct conn *c) {
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
  conns[c->fd] = NULL;
  close(c->fd);
  free(c);
}

/* One read per readiness event (the loop, and its update point, come back soon). */
static void conn_readable(struct conn *c) {
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
  if (c->inlen == sizeof c->inbuf - 1) conn_close(c); /* line too long */
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
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }
}

static int make_listener(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
    perror("bankserver: cannot listen");
    exit(1);
  }
  printf("PORT %d\n", ntohs(a.sin_port));
  fflush(stdout);
  return fd;
}

/* The event loop: the update point at its top, so an idle server is quiescent. */
static void serve(void) {
  struct epoll_event evs[MAX_EVENTS];
  for (;;) {
    TTST_UPDATE_POINT();
    int n = epoll_wait(epoll_fd, evs, MAX_EVENTS, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == listen_fd)
        accept_all();
      else if (fd >= 0 && fd < MAX_CONNS && conns[fd])
        conn_readable(conns[fd]);
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: bankserver PORT [ACCOUNTS]\n");
    return 2;
  }
  /* A future version inherits the listener, the epoll instance and the table. */
  if (!ttst_is_updating()) {
    size_t n = argc == 3 ? strtoul(argv[2], NULL, 10) : 0;
    table_init(n);
    preload(n);
    epoll_fd = epoll_create1(0);
    listen_fd = make_listener(atoi(argv[1]));
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listen_fd};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);
  }
  serve();
  return 0;
}
