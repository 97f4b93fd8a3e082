/* cmdtable — a server whose command table is built at start-up from code, the
 * live-update test of TTST_KEEP_NEW (issue 18, item 1).
 *
 * Start-up builds `commands` (heap: a table struct, an array of {name, handler},
 * each name strdup'd) from the code's list of commands, and a hash-seeded store:
 * `store->seed` is random per process (getrandom) and mixed into every key's hash,
 * so a store carried over from v1 is readable only with v1's seed. Every item
 * remembers the command that last wrote it (`item->by`, a pointer into the
 * command table: run-time state pointing into start-up state).
 *
 * One source, two versions (-DCT_VERSION=1|2): v2 adds the command COUNT (the
 * table is one entry longer). Built with TTST_KEEP_NEW(commands) (CT_KEEP, or
 * ttst-cc's TTST_ANNOTATIONS) the update keeps v2's table, so COUNT works after it,
 * and each item's `by` is paired with v2's entry at the same index; without it the
 * transfer carries v1's table over and COUNT stays unknown.
 *
 * Protocol (one command per line, one read per request):
 *   SET key value -> OK     GET key -> VALUE value | NOT_FOUND
 *   BY key -> BY name (the command that last wrote the key)
 *   VERSION -> VERSION n    COUNT (v2) -> COUNT n     else ERROR unknown command
 *   BANNER -> BANNER text sets=N motd=M
 * Usage: cmdtable PORT (0: any; prints "PORT n" once listening). */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ttst.h"

#ifndef CT_VERSION
#define CT_VERSION 1
#endif
#ifdef CT_KEEP
TTST_KEEP_NEW(commands);
#endif
#define BUCKETS 64

struct item {
  char *key;
  char *value;
  const struct command *by; /* the command that last wrote it: into the table */
  struct item *next;
};

struct store {
  uint64_t seed; /* written once at start-up, random: must come from the old version */
  unsigned long items;
  struct item *buckets[BUCKETS];
};

struct command {
  char *name;
  void (*handler)(const struct command *self, char *key, char *value, char *reply);
};

struct command_table {
  unsigned n;
  struct command *entries;
};

struct command_table *commands; /* built at start-up from the code below */
struct store *store;
int epfd, listen_fd; /* P's descriptors, inherited by the new version: transferred */
/* Untouched ELF initialisers: `banner` (.data) and `motd` (.bss) are never written
 * by v1, so they still equal v1's initializers and the new version keeps its own
 * start-up values (v2's banner, the motd v2's start-up sets); `sets` (.bss) is
 * written at run time and carried over. */
#if CT_VERSION >= 2
char banner[32] = "cmdtable two";
#else
char banner[32] = "cmdtable one";
#endif
char *motd;
long sets;

static unsigned bucket(const char *key) {
  uint64_t h = store->seed;
  while (*key) h = (h ^ (unsigned char)*key++) * 0x100000001b3ull;
  return (unsigned)(h % BUCKETS);
}

static struct item *find(const char *key) {
  for (struct item *it = store->buckets[bucket(key)]; it; it = it->next)
    if (strcmp(it->key, key) == 0) return it;
  return NULL;
}

static void cmd_set(const struct command *self, char *key, char *value, char *reply) {
  if (!key || !value) {
    strcpy(reply, "ERROR usage\n");
    return;
  }
  struct item *it = find(key);
  if (!it) {
    it = calloc(1, sizeof *it);
    it->key = strdup(key);
    it->next = store->buckets[bucket(key)];
    store->buckets[bucket(key)] = it;
    store->items++;
  }
  free(it->value);
  it->value = strdup(value);
  it->by = self;
  sets++;
  strcpy(reply, "OK\n");
}

static void cmd_get(const struct command *self, char *key, char *value, char *reply) {
  (void)self, (void)value;
  struct item *it = key ? find(key) : NULL;
  if (it)
    snprintf(reply, 512, "VALUE %s\n", it->value);
  else
    strcpy(reply, "NOT_FOUND\n");
}

static void cmd_by(const struct command *self, char *key, char *value, char *reply) {
  (void)self, (void)value;
  struct item *it = key ? find(key) : NULL;
  snprintf(reply, 512, "BY %s\n", it && it->by ? it->by->name : "-");
}

static void cmd_version(const struct command *self, char *key, char *value, char *reply) {
  (void)self, (void)key, (void)value;
  snprintf(reply, 512, "VERSION %d\n", CT_VERSION);
}

static void cmd_banner(const struct command *self, char *key, char *value, char *reply) {
  (void)self, (void)key, (void)value;
  snprintf(reply, 512, "BANNER %s sets=%ld motd=%s\n", banner, sets, motd ? motd : "-");
}

#if CT_VERSION >= 2
static void cmd_count(const struct command *self, char *key, char *value, char *reply) {
  (void)self, (void)key, (void)value;
  snprintf(reply, 512, "COUNT %lu\n", store->items);
}
#endif

/* The table, from code: what a server's module list or command registry does. */
static void build_commands(void) {
  static const struct {
    const char *name;
    void (*handler)(const struct command *, char *, char *, char *);
  } code[] = {
      {"SET", cmd_set}, {"GET", cmd_get}, {"BY", cmd_by}, {"VERSION", cmd_version}, {"BANNER", cmd_banner},
#if CT_VERSION >= 2
      {"COUNT", cmd_count},
#endif
  };
  commands = calloc(1, sizeof *commands);
  commands->n = sizeof code / sizeof code[0];
  commands->entries = calloc(commands->n, sizeof *commands->entries);
  for (unsigned i = 0; i < commands->n; i++) {
    commands->entries[i].name = strdup(code[i].name);
    commands->entries[i].handler = code[i].handler;
  }
}

static void build_store(void) {
  store = calloc(1, sizeof *store);
  if (getrandom(&store->seed, sizeof store->seed, 0) != sizeof store->seed) exit(1);
}

static void answer(int fd, char *line) {
  char reply[512], *save = NULL;
  char *name = strtok_r(line, " \r\n", &save), *key = strtok_r(NULL, " \r\n", &save);
  char *value = strtok_r(NULL, "\r\n", &save);
  strcpy(reply, "ERROR unknown command\n");
  for (unsigned i = 0; name && i < commands->n; i++)
    if (strcmp(commands->entries[i].name, name) == 0) {
      commands->entries[i].handler(&commands->entries[i], key, value, reply);
      break;
    }
  (void)!write(fd, reply, strlen(reply));
}

static int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0) exit(1);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  printf("PORT %d\n", ntohs(a.sin_port));
  fflush(stdout);
  return fd;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  build_commands();
  build_store();
#if CT_VERSION >= 2
  motd = strdup("welcome");
#endif
  listen_fd = listen_on(argc > 1 ? atoi(argv[1]) : 0);
  epfd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listen_fd};
  epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
  struct epoll_event events[16];
  for (;;) {
    TTST_UPDATE_POINT();
    int n = epoll_wait(epfd, events, 16, -1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == listen_fd) {
        int c = accept(listen_fd, NULL, NULL);
        struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
        if (c >= 0) epoll_ctl(epfd, EPOLL_CTL_ADD, c, &cev);
        continue;
      }
      char line[512];
      ssize_t got = read(fd, line, sizeof line - 1);
      if (got <= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
        continue;
      }
      line[got] = 0;
      answer(fd, line);
    }
  }
}
