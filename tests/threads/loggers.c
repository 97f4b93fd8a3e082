/* loggers.c — per-thread objects on a list, as memcached 1.6 keeps its loggers: each
 * thread makes its own logger at start-up (main's first), names it by a
 * pthread_setspecific key, keeps it in a local of its loop, and links it at the
 * head of a list with two globals, `logger_head` (the newest) and `logger_tail`
 * (main's). Two worker threads, alpha and beta (different start functions), each
 * count ticks in their own logger. The versions make the workers' loggers in
 * opposite orders (LOGGERS_VERSION 1: alpha, then beta; 2: beta, then alpha), so
 * the head names a different thread's logger in P than in F: the global says
 * "alpha's start-up logger became P's newest (beta's)", alpha's frame says "it
 * became P's alpha logger" — and only the thread's own identity (its
 * pthread_getspecific value, its local) is right. v2's logger gains a member.
 * Reads lines on stdin: "LOGS" replies
 *   "LOGS n=N alpha=A/S beta=B/S"
 * with N the loggers on the list, A and B each worker's ticks, and S "ok" when the
 * worker's local is the logger its key names, is on the list and is its own
 * (owner), else "wrong". Prints "READY" once every thread runs (not when updated). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ttst.h>

enum { MAIN_LOGGER = 0, ALPHA = 1, BETA = 2 };

struct logger {
  struct logger *prev, *next;
  int owner;
  long ticks;
#if LOGGERS_VERSION >= 2
  long dropped; /* v2's new member: the layout changes */
#endif
};

static struct logger *logger_head, *logger_tail;
static pthread_mutex_t logger_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t logger_key;
static volatile int linked;     /* loggers linked, under logger_mu */
static volatile int ok[3];      /* per worker: its local is its own logger */

static struct logger *logger_create(int owner) {
  struct logger *l = calloc(1, sizeof *l);
  l->owner = owner;
  pthread_setspecific(logger_key, l);
  pthread_mutex_lock(&logger_mu);
  l->next = logger_head;
  if (logger_head) logger_head->prev = l;
  logger_head = l;
  if (!logger_tail) logger_tail = l;
  linked++;
  pthread_mutex_unlock(&logger_mu);
  return l;
}

static int on_list(const struct logger *l) {
  for (const struct logger *at = logger_head; at; at = at->next)
    if (at == l) return 1;
  return 0;
}

/* A worker's loop: its logger lives in a local. */
static void work(struct logger *l, int owner) {
  for (;;) {
    TTST_UPDATE_POINT();
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    __atomic_add_fetch(&l->ticks, 1, __ATOMIC_RELAXED);
    ok[owner] = l == pthread_getspecific(logger_key) && l->owner == owner && on_list(l);
  }
}

static void *alpha_main(void *arg) {
  (void)arg;
  work(logger_create(ALPHA), ALPHA);
  return NULL;
}

static void *beta_main(void *arg) {
  (void)arg;
  work(logger_create(BETA), BETA);
  return NULL;
}

static void start(void *(*fn)(void *)) {
  pthread_mutex_lock(&logger_mu);
  const int before = linked;
  pthread_mutex_unlock(&logger_mu);
  pthread_t t;
  pthread_create(&t, NULL, fn, NULL);
  for (;;) { /* its logger is linked before the next thread starts: a fixed order */
    pthread_mutex_lock(&logger_mu);
    const int now = linked;
    pthread_mutex_unlock(&logger_mu);
    if (now > before) return;
    usleep(1000);
  }
}

static long ticks_of(int owner) {
  for (const struct logger *at = logger_head; at; at = at->next)
    if (at->owner == owner) return at->ticks;
  return -1;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  pthread_key_create(&logger_key, NULL);
  logger_create(MAIN_LOGGER);
#if LOGGERS_VERSION >= 2
  start(beta_main);
  start(alpha_main);
#else
  start(alpha_main);
  start(beta_main);
#endif
  if (!ttst_is_updating()) printf("READY\n");
  char line[64];
  for (;;) {
    TTST_UPDATE_POINT();
    ssize_t n = read(0, line, sizeof line - 1);
    if (n <= 0) return 0;
    line[n] = 0;
    if (strncmp(line, "LOGS", 4)) continue;
    int count = 0;
    for (const struct logger *at = logger_head; at; at = at->next) ++count;
    printf("LOGS n=%d alpha=%ld/%s beta=%ld/%s\n", count, ticks_of(ALPHA), ok[ALPHA] ? "ok" : "wrong",
           ticks_of(BETA), ok[BETA] ? "ok" : "wrong");
  }
}
