/* threads.c — a multi-threaded ttst test server with the three kinds of threads of
 * issue 19, each kind with its own update point:
 *   - main: the accept loop (accept() in main's own body), handing each connection
 *     to a worker round-robin through the worker's pipe, as memcached 1.6 does;
 *   - NWORKERS event-loop workers (worker_main): epoll_wait in the loop's body, one
 *     read per readiness event, requests handled in handle_request/handle_slow;
 *   - a timer thread (timer_main): nanosleep(20 ms) in its loop, counting ticks;
 *     with the argument "busy" it never makes a system call (always driven);
 *   - a job thread (jobs_main): pthread_cond_wait in its loop for jobs posted by
 *     the workers.
 * Every system call that returns EINTR is counted (`eintr`): an update that does
 * not commit must leave it 0.
 *
 *   threads [busy|main_exits|hold]  prints "READY pid=P port=N" once every thread runs
 *                       (main_exits: then the main thread ends, pthread_exit;
 *                       hold: the main thread holds `held_mu` for ever, so a lock
 *                       is held at quiescence)
 * Requests (one line each, one reply line):
 *   GET            "VAL worker=W served=S ticks=T jobs=J eintr=E tls=N boxed=B tlog=L laps=A"
 *                  (L: GETs counted in the worker's pthread_getspecific log; A: the
 *                  timer's loops counted in a local of its frame)
 *   JOB            posts a job to the job thread; "OK"
 *   SLOW           the handler blocks in read() for a second line (mid-request,
 *                  in a worker); the reply "DONE <line>" comes once it arrives;
 *                  a second line "SPAWN" makes the handler start one more thread
 *                  (extra_main: a nanosleep loop with its update point), "SHORT"
 *                  a thread that ends at once (threads created mid-update)
 *   TIDS           "TIDS main=P w0=.. w1=.. timer=.. jobs=.. extra=.." (0: none)
 *   HOLD N         the timer thread takes `held_mu` and holds it for its next N
 *                  ticks (across its update point and nanosleep), then lets go;
 *                  "OK" once it holds it (a lock held at quiescence for a while)
 *   STATS          (v2) "STATS reports=R" from the thread v2 adds
 * Each worker's state is a per-thread struct (`struct worker`), in v2 of issue 19
 * its layout changes; each thread counts what it did in a thread-local variable
 * (`tls_count`: requests for a worker, ticks for the timer, jobs for the job
 * thread), reported by GET ("tls=N" of the worker serving it) and TLS. v2 starts
 * one more thread (stats_main, a nanosleep loop with its update point).
 * Updated (ttst_is_updating()), v2's start-up skips what it inherits: the listening
 * socket and each worker's pipe and epoll instance (transferred in `workers` and
 * `listen_fd`), and the READY line.
 * Variants of v2 (the start-up policy and the grace period for every thread):
 *   THREADS_STARTUP_LOG  worker 0's start-up rewrites the log $THREADS_LOG, with
 *                        fopen("w") ($THREADS_LOG_HOW=w) or truncate() (=truncate)
 *   THREADS_GRACE_CRASH  the thread v2 adds crashes (SIGSEGV) once v2 has served a
 *                        request: in the grace period after the commit
 *   THREADS_GRACE_HANG   the thread v2 adds spins for ever (no update point) once
 *                        v2 has served a request
 *   THREADS_STARTUP_LOOP worker 0's start-up rewrites the log $THREADS_LOG in a tight
 *                        loop for ever (open O_TRUNC, write, close; never at its
 *                        point): every call must meet the start-up policy, also
 *                        those made while the supervisor interrupts the thread
 *   THREADS_STARTUP_CRASH worker 1 crashes (SIGSEGV) in its start-up, in
 *                        worker_main, once it has said it started and main has
 *                        created 40 more threads (main creates them without end:
 *                        the crash kills F in the middle of some clone)
 *   THREADS_GRACE_SPAWN  the thread v2 adds starts one more thread
 *                        (grace_spawned_main) once v2 has served a request; that
 *                        thread crashes (SIGSEGV): a thread created in the grace
 *                        period. It crashes once the thread v2 adds has created
 *                        40 more (it creates them without end: F is killed in the
 *                        middle of some clone) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <ttst.h>

#define NWORKERS 2

struct worker {
  int id;
  int pipe_rd, pipe_wr;  /* the main thread writes accepted descriptors here */
  int ep;
  long served;
  pid_t tid;
#if THREADS_VERSION >= 2
  long bytes_in; /* v2: the per-thread struct changes layout */
#endif
};

static struct worker workers[NWORKERS];
static volatile long ticks, jobs_done, eintr;
static volatile long boxed; /* the timer's count kept in a heap object only its local holds */
static volatile long timer_laps; /* the timer's count kept in a local of its frame */
static volatile int busy_timer;
static pid_t timer_tid, jobs_tid, extra_tid;
static pthread_mutex_t job_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_cv = PTHREAD_COND_INITIALIZER;
static int jobs_pending;
static int started;  /* threads running, under job_mu */
static int listen_fd;
static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER; /* "hold": locked by main for ever */
static volatile long hold_ticks;   /* HOLD N: the timer holds held_mu for N more ticks */
static volatile int timer_holding; /* ... and holds it now */
static __thread long tls_count; /* per thread: what this thread did (issue 19: TLS) */
/* Each worker's log (as memcached 1.6's per-thread logger): made by main at start-up,
 * on a list from one global head (no global per log), and found by its worker
 * through pthread_getspecific: the thread descriptor is its only other root. */
struct tlog {
  int worker;
  long lines;
  struct tlog *next;
};
static struct tlog *tlogs;
static pthread_key_t tlog_key;
#if THREADS_VERSION >= 2
static volatile long stats_reports;
#endif

#ifdef THREADS_STARTUP_LOG
/* What a server's thread opening its own log at start-up does to the file. */
static void startup_log(void) {
  const char *log = getenv("THREADS_LOG"), *how = getenv("THREADS_LOG_HOW");
  if (!log || !how) return;
  if (!strcmp(how, "truncate")) {
    if (truncate(log, 0)) perror("threads: truncate");
    return;
  }
  FILE *f = fopen(log, "w");
  if (f) {
    fputs("v2 worker 0 started\n", f);
    fclose(f);
  }
}
#endif
#if defined(THREADS_GRACE_CRASH) || defined(THREADS_GRACE_HANG) || defined(THREADS_GRACE_SPAWN) || \
    defined(THREADS_STARTUP_CRASH)
#define THREADS_V2_SERVED 1
static volatile int v2_served; /* set by every request v2 handles */
static int *volatile nowhere;  /* NULL, unknown to the compiler */
static volatile int short_threads; /* threads created and joined while another crashes */
static volatile long spins;
#endif

#ifdef THREADS_STARTUP_LOOP
/* P's log rewritten for ever, the path copied afresh each time (the start-up
 * policy may point the call at another path; it puts the bytes back at the exit). */
static void startup_log_loop(const char *log) {
  for (;;) {
    char path[4096];
    snprintf(path, sizeof path, "%s", log);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      if (write(fd, "v2 worker 0 looping\n", 20) < 0) perror("threads: write");
      close(fd);
    }
  }
}
#endif

#ifdef THREADS_GRACE_SPAWN
static void *grace_spawned_main(void *arg) { /* started by stats_main in the grace period */
  (void)arg;
  while (short_threads < 40) usleep(1000); /* crash while stats_main creates threads */
  *nowhere = 1;
  return NULL;
}
#endif

static void count_eintr(long r) {
  if (r < 0 && errno == EINTR) __atomic_add_fetch(&eintr, 1, __ATOMIC_RELAXED);
}

static void mark_started(void) {
  pthread_mutex_lock(&job_mu);
  started++;
  pthread_mutex_unlock(&job_mu);
}

static void reply(int fd, const char *s) {
  long r = write(fd, s, strlen(s));
  count_eintr(r);
}

static void *extra_main(void *arg) {
  (void)arg;
  extra_tid = (pid_t)syscall(SYS_gettid);
  for (;;) {
    TTST_UPDATE_POINT();
    struct timespec ts = {0, 20 * 1000 * 1000};
    count_eintr(nanosleep(&ts, NULL));
  }
  return NULL;
}

static void *short_main(void *arg) { return arg; }

/* Mid-request: the rest of the request is read here, blocking. */
__attribute__((noinline)) static void handle_slow(int fd) {
  char rest[128];
  long n = read(fd, rest, sizeof rest - 1);
  count_eintr(n);
  if (n <= 0) return;
  rest[n] = 0;
  rest[strcspn(rest, "\r\n")] = 0;
  pthread_t t;
  if (!strcmp(rest, "SPAWN") || !strcmp(rest, "SHORT")) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &attr, !strcmp(rest, "SPAWN") ? extra_main : short_main, NULL);
    pthread_attr_destroy(&attr);
  }
  char out[160];
  snprintf(out, sizeof out, "DONE %s\n", rest);
  reply(fd, out);
}

/* False when the connection is closed. */
__attribute__((noinline)) static int handle_request(struct worker *w, int fd) {
  char line[128];
  long n = read(fd, line, sizeof line - 1);
  count_eintr(n);
  if (n <= 0) return 0;
  line[n] = 0;
  char out[256];
  w->served++;
  tls_count++;
#ifdef THREADS_V2_SERVED
  v2_served = 1;
#endif
  if (!strncmp(line, "GET", 3)) {
    struct tlog *l = pthread_getspecific(tlog_key);
    snprintf(out, sizeof out,
             "VAL worker=%d served=%ld ticks=%ld jobs=%ld eintr=%ld tls=%ld boxed=%ld tlog=%ld laps=%ld\n", w->id,
             w->served, ticks, jobs_done, eintr, tls_count, boxed, l ? ++l->lines : -1L, timer_laps);
    reply(fd, out);
  } else if (!strncmp(line, "JOB", 3)) {
    pthread_mutex_lock(&job_mu);
    jobs_pending++;
    pthread_cond_signal(&job_cv);
    pthread_mutex_unlock(&job_mu);
    reply(fd, "OK\n");
  } else if (!strncmp(line, "SLOW", 4)) {
    handle_slow(fd);
#if THREADS_VERSION >= 2
  } else if (!strncmp(line, "STATS", 5)) {
    snprintf(out, sizeof out, "STATS reports=%ld\n", stats_reports);
    reply(fd, out);
#endif
  } else if (!strncmp(line, "HOLD ", 5)) {
    hold_ticks = atol(line + 5);
    for (int i = 0; i < 1000 && !timer_holding; i++) usleep(1000);
    reply(fd, timer_holding ? "OK\n" : "ERR\n");
  } else if (!strncmp(line, "TIDS", 4)) {
    snprintf(out, sizeof out, "TIDS main=%d w0=%d w1=%d timer=%d jobs=%d extra=%d\n", (int)getpid(),
             (int)workers[0].tid, (int)workers[1].tid, (int)timer_tid, (int)jobs_tid, (int)extra_tid);
    reply(fd, out);
  } else {
    reply(fd, "ERR\n");
  }
  return 1;
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  w->tid = (pid_t)syscall(SYS_gettid);
#ifdef THREADS_STARTUP_LOG
  if (w->id == 0) startup_log();
#endif
#ifdef THREADS_STARTUP_LOOP
  if (w == &workers[0] && getenv("THREADS_LOG")) { /* not w->id: v2's start-up leaves ids 0 */
    mark_started();
    startup_log_loop(getenv("THREADS_LOG"));
  }
#endif
#ifdef THREADS_STARTUP_CRASH
  if (w == &workers[1]) {
    mark_started();
    while (short_threads < 40) usleep(1000); /* crash while main creates threads */
    *nowhere = 1;
  }
#endif
  for (struct tlog *l = tlogs; l; l = l->next)
    if (l->worker == w->id) pthread_setspecific(tlog_key, l);
  mark_started();
  struct epoll_event evs[16];
  for (;;) {
    TTST_UPDATE_POINT();
    int n = epoll_wait(w->ep, evs, 16, -1);
    count_eintr(n);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == w->pipe_rd) {
        int conn;
        if (read(w->pipe_rd, &conn, sizeof conn) == sizeof conn) {
          struct epoll_event ev = {.events = EPOLLIN, .data.fd = conn};
          epoll_ctl(w->ep, EPOLL_CTL_ADD, conn, &ev);
        }
      } else if (!handle_request(w, fd)) {
        epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
      }
    }
  }
  return NULL;
}

static void *timer_main(void *arg) {
  (void)arg;
  timer_tid = (pid_t)syscall(SYS_gettid);
  /* Reached only from this thread's stack (issue 19: a non-main thread's stack root):
   * updated, the local must point at P's box, not at v2's fresh one. */
  long *volatile box = calloc(1, sizeof *box);
  /* A scalar local of a thread other than main, in its stack slot: updated, v2's
   * timer counts on from P's value. */
  volatile long laps = 0;
  mark_started();
  for (;;) {
    if (hold_ticks > 0 && !timer_holding) {
      pthread_mutex_lock(&held_mu);
      timer_holding = 1;
    }
    TTST_UPDATE_POINT();
    if (busy_timer) {
      for (volatile int i = 0; i < 100000; i++) {
      }
    } else {
      struct timespec ts = {0, 20 * 1000 * 1000};
      count_eintr(nanosleep(&ts, NULL));
    }
    ticks++;
    tls_count++;
    boxed = ++*box;
    timer_laps = ++laps;
    if (timer_holding && --hold_ticks <= 0) {
      timer_holding = 0;
      pthread_mutex_unlock(&held_mu);
    }
  }
  return NULL;
}

static void *jobs_main(void *arg) {
  (void)arg;
  jobs_tid = (pid_t)syscall(SYS_gettid);
  mark_started();
  for (;;) {
#ifndef THREADS_WAIT_FIRST
    TTST_UPDATE_POINT();
#endif
    pthread_mutex_lock(&job_mu);
    while (jobs_pending == 0) pthread_cond_wait(&job_cv, &job_mu);
#ifdef THREADS_WAIT_FIRST
    /* -DTHREADS_WAIT_FIRST (threads_v2_wait_first): the point follows the wait, as
     * memcached 1.6's crawler's: v2's start-up leaves this thread blocked in its
     * wait, never at its point; quiescent there by the rule (its point's function). */
    pthread_mutex_unlock(&job_mu);
    TTST_UPDATE_POINT();
    pthread_mutex_lock(&job_mu);
#endif
    jobs_pending--;
    pthread_mutex_unlock(&job_mu);
    jobs_done++;
    tls_count++;
  }
  return NULL;
}

#ifdef THREADS_KEEPER
/* -DTHREADS_KEEPER (threads_keeper_v1/v2): as memcached 1.6's maintenance threads,
 * a keeper whose update point is inside its critical section (it holds keeper_mu
 * everywhere but in its pthread_cond_wait: P's waits there, v2's stops at the point
 * holding it), and a rebalancer-like state: `rebal` (a start-up heap struct a global
 * points to) whose `void *am` holds an object allocated by a function returning
 * void * (no type from its site; TTST_POINTS_TO types it), which points to a global.
 * Updated, P's rebal replaces v2's, and v2's start-up `am` is left reachable from
 * nothing: garbage the backward transfer must not take for state. */
static pthread_mutex_t keeper_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t keeper_cv = PTHREAD_COND_INITIALIZER;
static long keeper_rounds;
typedef struct {
  volatile long *counter; /* a pointer into the state (a global) */
  long runs;
} am_state;
struct rebal {
  void *am;
  long moves;
};
TTST_POINTS_TO(struct rebal.am, am_state);
struct rebal *rebal; /* external: kept by -O2 */
__attribute__((noinline)) static void *am_init(void) {
  am_state *a = calloc(1, sizeof *a);
  a->counter = &ticks;
  return a;
}
static void *keeper_main(void *arg) {
  (void)arg;
  mark_started();
  pthread_mutex_lock(&keeper_mu);
  for (;;) {
    TTST_UPDATE_POINT(); /* holding keeper_mu */
    pthread_cond_wait(&keeper_cv, &keeper_mu);
    keeper_rounds++;
    ((am_state *)rebal->am)->runs++;
  }
  return NULL;
}
#define NKEEPER 1
#else
#define NKEEPER 0
#endif

#if THREADS_VERSION >= 2
#define NTHREADS (NWORKERS + 3 + NKEEPER)
static void *stats_main(void *arg) { /* the thread v2 adds */
  (void)arg;
  mark_started();
  for (;;) {
    TTST_UPDATE_POINT();
    struct timespec ts = {0, 50 * 1000 * 1000};
    count_eintr(nanosleep(&ts, NULL));
    stats_reports++;
#ifdef THREADS_GRACE_CRASH
    if (v2_served) *nowhere = 1;
#endif
#ifdef THREADS_GRACE_HANG
    while (v2_served) spins++;
#endif
#ifdef THREADS_GRACE_SPAWN
    pthread_t spawned;
    if (v2_served && !pthread_create(&spawned, NULL, grace_spawned_main, NULL)) {
      v2_served = 0;
      for (;;) { /* F killed by the spawned thread's crash in the middle of some clone */
        pthread_t s;
        if (!pthread_create(&s, NULL, short_main, NULL)) pthread_join(s, NULL);
        short_threads++;
      }
    }
#endif
  }
  return NULL;
}
#else
#define NTHREADS (NWORKERS + 2 + NKEEPER)
#endif

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  busy_timer = argc > 1 && !strcmp(argv[1], "busy");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (!ttst_is_updating()) { /* updated: the socket, pipes and epoll instances are P's, transferred */
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) || listen(listen_fd, 64) ||
        getsockname(listen_fd, (struct sockaddr *)&a, &len)) {
      perror("threads: socket");
      return 1;
    }
    for (int i = 0; i < NWORKERS; i++) {
      int p[2];
      if (pipe2(p, O_CLOEXEC)) return 1;
      workers[i] = (struct worker){.id = i, .pipe_rd = p[0], .pipe_wr = p[1], .ep = epoll_create1(EPOLL_CLOEXEC)};
      struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]};
      epoll_ctl(workers[i].ep, EPOLL_CTL_ADD, p[0], &ev);
    }
  }
  pthread_key_create(&tlog_key, NULL);
  for (int i = 0; i < NWORKERS; i++) { /* pushed at the head: tlogs -> worker N-1's ... -> worker 0's */
    struct tlog *l = calloc(1, sizeof *l);
    l->worker = i, l->next = tlogs, tlogs = l;
  }
  pthread_t t;
  for (int i = 0; i < NWORKERS; i++) pthread_create(&t, NULL, worker_main, &workers[i]);
  pthread_create(&t, NULL, timer_main, NULL);
  pthread_create(&t, NULL, jobs_main, NULL);
#if THREADS_VERSION >= 2
  pthread_create(&t, NULL, stats_main, NULL);
#endif
#ifdef THREADS_KEEPER
  rebal = calloc(1, sizeof *rebal);
  rebal->am = am_init();
  pthread_create(&t, NULL, keeper_main, NULL);
#endif
#ifdef THREADS_STARTUP_CRASH
  for (;;) { /* F killed by worker 1's crash in the middle of some clone */
    pthread_t s;
    if (!pthread_create(&s, NULL, short_main, NULL)) pthread_join(s, NULL);
    short_threads++;
  }
#endif
  for (;;) { /* every thread has stored its tid before READY */
    pthread_mutex_lock(&job_mu);
    int n = started;
    pthread_mutex_unlock(&job_mu);
    if (n >= NTHREADS) break;
    usleep(1000);
  }
  if (!ttst_is_updating()) printf("READY pid=%d port=%d\n", (int)getpid(), ntohs(a.sin_port));
  if (argc > 1 && !strcmp(argv[1], "main_exits")) pthread_exit(NULL); /* the others run on */
  if (argc > 1 && !strcmp(argv[1], "hold")) pthread_mutex_lock(&held_mu);
  for (unsigned next = 0;; next++) {
    TTST_UPDATE_POINT();
    int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    count_eintr(conn);
    if (conn < 0) continue;
    long r = write(workers[next % NWORKERS].pipe_wr, &conn, sizeof conn);
    count_eintr(r);
  }
}
