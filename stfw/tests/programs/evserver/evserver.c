/* evserver.c — a single-threaded libevent TCP server whose state lives partly in
 * libevent, as memcached's does: a timer is a `struct event` global, every
 * connection is a heap object embedding its `struct event` and is known ONLY
 * through its libevent registration (no list of connections; the listener's is
 * `listen_conn`), and the base is a pointer to libevent's own object. Start-up is unmodified (socket,
 * bind, listen: the supervisor adopts P's listener). Protocol, one line each:
 * "PING" -> "vV ticks=T served=S beats=B" (T: timer firings, S: requests on this
 * connection, B: firings of a persistent 15 ms timer), "QUIT" closes. The timer
 * fires every 10 ms and re-adds itself.
 * Built as (BUILD): evserver_v1; evserver_v2 (struct conn grows a member before
 * the event, so every embedded event moves); evserver_v2_onequeue (a base with one
 * priority queue: the connections' priority 2 cannot be re-registered);
 * evserver_apart_v1/v2 (-DLISTENER_APART: the listener is a global struct event,
 * so the connections' allocation site types none of its objects and each
 * connection is typed by the live libevent event it embeds); evserver_bases_v1/v2
 * (-DWORKER_BASES: as memcached 1.6's worker threads, a heap table built at start-up
 * holds one event_base per worker with a persistent timer embedded in each entry; the
 * connections are spread over the workers' bases, which the loop polls between the
 * rounds of the main base; PING also says "wakes=W", the firings of the serving
 * worker's timer). */
#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ttst.h"

#ifndef PRIORITIES
#define PRIORITIES 3
#endif

struct conn {
#if V >= 2
  long created_by_version; /* new in v2: the embedded event moves by 8 bytes */
#endif
  int fd;
#ifdef WORKER_BASES
  int worker; /* the index of its worker in `workers` */
#endif
  struct event ev;
  long served;
  char line[128];
  size_t len;
};

struct event_base *base; /* libevent's object: F keeps its own */
struct event tick_ev;
struct event beat_ev; /* a persistent timer: libevent re-arms it with its period */
long beats;
#ifdef LISTENER_APART
struct event listen_ev; /* the connections' site types nothing: typed by their live event */
#else
struct conn *listen_conn;
#endif
long ticks;
#ifdef WORKER_BASES
#define NWORKERS 2
struct worker {
  struct event_base *base; /* libevent's object: F keeps its own worker i's for P's worker i */
  struct event wake;       /* a persistent timer in this worker's base */
  long wakes;
};
struct worker *workers; /* calloc'd at start-up: v2 builds its own, P's replaces it */
static long accepted;
static void wake(int fd, short what, void *arg) {
  (void)fd, (void)what;
  ((struct worker *)arg)->wakes++;
}
#endif

static void tick(int fd, short what, void *arg) {
  (void)fd, (void)what, (void)arg;
  ticks++;
  struct timeval tv = {0, 10000};
  evtimer_add(&tick_ev, &tv);
}

static void beat(int fd, short what, void *arg) {
  (void)fd, (void)what, (void)arg;
  beats++;
}

static void close_conn(struct conn *c) {
  event_del(&c->ev);
  close(c->fd);
  free(c);
}

static void answer(struct conn *c, const char *request) {
  char out[128];
  if (strcmp(request, "QUIT") == 0) return close_conn(c);
#ifdef WORKER_BASES
  int n = snprintf(out, sizeof out, "v%d ticks=%ld served=%ld beats=%ld wakes=%ld\n", V, ticks, ++c->served, beats,
                   workers[c->worker].wakes);
#else
  int n = snprintf(out, sizeof out, "v%d ticks=%ld served=%ld beats=%ld\n", V, ticks, ++c->served, beats);
#endif
  if (write(c->fd, out, n) != n) perror("evserver: write");
}

static void on_readable(int fd, short what, void *arg) {
  (void)what;
  struct conn *c = arg;
  ssize_t n = read(fd, c->line + c->len, sizeof c->line - 1 - c->len);
  if (n == 0 || (n < 0 && errno != EAGAIN)) return close_conn(c);
  if (n < 0) return;
  c->len += n;
  c->line[c->len] = 0;
  char *nl;
  while ((nl = strchr(c->line, '\n'))) {
    *nl = 0;
    size_t used = nl + 1 - c->line;
    char request[128];
    memcpy(request, c->line, used);
    memmove(c->line, nl + 1, c->len - used + 1);
    c->len -= used;
    if (strcmp(request, "QUIT") == 0) return close_conn(c);
    answer(c, request);
  }
}

/* Every connection, the listener's included, comes from this one allocation site
 * (as memcached's conn_new): the listener's is typed through `listen_conn`, and
 * the site types the others, which only libevent knows. */
static struct conn *conn_new(int fd, void (*callback)(int, short, void *)) {
  struct conn *c = calloc(1, sizeof *c);
  c->fd = fd;
#if V >= 2
  c->created_by_version = V;
#endif
  struct event_base *b = base;
#ifdef WORKER_BASES
  if (callback == on_readable) c->worker = (int)(accepted++ % NWORKERS), b = workers[c->worker].base;
#endif
  event_assign(&c->ev, b, fd, EV_READ | EV_PERSIST, callback, c);
  event_priority_set(&c->ev, 2); /* a non-default priority: re-registered as such */
  event_add(&c->ev, NULL);
  return c;
}

static void on_accept(int fd, short what, void *arg) {
  (void)what, (void)arg;
  int s = accept(fd, NULL, NULL);
  if (s < 0) return;
  fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
  conn_new(s, on_readable);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  base = event_base_new();
  if (event_base_priority_init(base, PRIORITIES) != 0) return 3;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0) {
    perror("evserver: cannot listen");
    return 1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
#ifdef LISTENER_APART
  event_assign(&listen_ev, base, fd, EV_READ | EV_PERSIST, on_accept, NULL);
  event_add(&listen_ev, NULL);
#else
  listen_conn = conn_new(fd, on_accept);
#endif
  evtimer_assign(&tick_ev, base, tick, NULL);
  struct timeval tv = {0, 10000};
  evtimer_add(&tick_ev, &tv);
  event_assign(&beat_ev, base, -1, EV_PERSIST, beat, NULL);
  struct timeval period = {0, 15000};
  event_add(&beat_ev, &period);
#ifdef WORKER_BASES
  workers = calloc(NWORKERS, sizeof *workers);
  for (int i = 0; i < NWORKERS; i++) {
    workers[i].base = event_base_new();
    if (event_base_priority_init(workers[i].base, PRIORITIES) != 0) return 3;
    event_assign(&workers[i].wake, workers[i].base, -1, EV_PERSIST, wake, &workers[i]);
    struct timeval every = {0, 5000};
    event_add(&workers[i].wake, &every);
  }
#endif
  fprintf(stderr, "evserver v%d: listening on fd %d\n", V, fd);
  for (;;) {
    TTST_UPDATE_POINT();
#ifdef WORKER_BASES
    for (int i = 0; i < NWORKERS; i++) event_base_loop(workers[i].base, EVLOOP_NONBLOCK);
#endif
    event_base_loop(base, EVLOOP_ONCE);
  }
}
