/* blockcall.c — a ttst program that blocks, again and again, in ONE system call
 * of a server's repertoire, and reports how each call ended. The past-untouched
 * matrix (matrix_test.cc) updates it while it is blocked: nothing of an attempt
 * that does not commit may be visible to it.
 *
 *   blockcall MODE [timeout_ms]
 *   MODE: poll poll_timeout ppoll select pselect epoll_wait epoll_pwait sigsuspend
 *         nanosleep clock_nanosleep clock_nanosleep_abs futex read accept pause
 *         sigtimedwait wait4
 *
 * Start-up prints "ready pid=P[ port=N]". Each round of the event loop prints
 * "block ITER[ child=C]" and then blocks; what wakes it: a line on stdin (poll,
 * ppoll, select, pselect, epoll_*, read), a connection (accept), SIGUSR1
 * (sigsuspend, pause, sigtimedwait), the child's death (wait4), the timeout (the
 * rest). When the call returns it prints
 *   "done ITER ret=R errno=E t0=T0 t1=T1 mask_kept=0|1 usr1=N"
 * with errno set to 777 before the call (a successful call leaves it so), the
 * CLOCK_MONOTONIC times before and after the call in microseconds, and whether the
 * signal mask after the call equals the one before it. The mask is never empty
 * (SIGUSR2 and SIGWINCH are blocked throughout) and every call that takes a mask
 * takes a different one, so a lost restore-mask flag shows.
 *
 * Every call sits in main's own body, next to the update point: the quiescence
 * rule takes the loop as idle there. Versions (-D): V2 (same program, v2),
 * V2_CRASH (SIGSEGV in start-up), V2_EXIT (exits 7 in start-up), V2_NO_UPOINT
 * (never reaches an update point), V2_NARROW (`wide` becomes an int: the value
 * does not fit and the transfer must fail). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <ttst.h>

static volatile sig_atomic_t usr1;
static void on_usr1(int sig) { (void)sig; usr1++; }

/* Writable state with a recognisable pattern (the matrix hashes all of it). */
static unsigned char pattern[65536];
#ifdef V2_NARROW
int wide;
#else
long wide = 1L << 40;
#endif
/* What the test agent's lossy backward transfer damages (agent_test_task.cc):
 * the matrix's rollback at the diff phase. */
struct counted { unsigned count; } table = {7};

/* A macro, not a function of the program: a stale return address into a helper
 * left on the stack below the blocking call would make the loop look mid-request. */
#define NOW_US(var)                                   \
  do {                                                \
    struct timespec t_;                               \
    clock_gettime(CLOCK_MONOTONIC, &t_);              \
    var = t_.tv_sec * 1000000LL + t_.tv_nsec / 1000;  \
  } while (0)

int main(int argc, char **argv) {
#if defined(V2_CRASH)
  *(volatile int *)0 = 1;
#elif defined(V2_EXIT)
  /* At run time only: the binary keeps its update point (a v2 without any is
   * refused before P is touched, which is not the phase this variant is for). */
  static volatile int bad_configuration = 1;
  if (bad_configuration) {
    fprintf(stderr, "blockcall v2: bad configuration\n");
    return 7;
  }
#elif defined(V2_NO_UPOINT)
  static volatile int stuck = 1;
  while (stuck) pause();
#endif
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc < 2) { fprintf(stderr, "usage: blockcall MODE [timeout_ms]\n"); return 2; }
  const char *mode = argv[1];
  long ms = argc > 2 ? atol(argv[2]) : 1500;
  for (size_t i = 0; i < sizeof pattern; ++i) pattern[i] = (unsigned char)(i * 7 + 3);
  char *heap = malloc(1 << 20);
  memset(heap, 0x5a, 1 << 20);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: as most servers */

  /* The program's own mask: SIGUSR2 and SIGWINCH; SIGUSR1 too where a call waits
   * for it with a mask of its own (sigsuspend) or takes it synchronously. */
  sigset_t own, other, waited;
  sigemptyset(&own);
  sigaddset(&own, SIGUSR2);
  sigaddset(&own, SIGWINCH);
  if (!strcmp(mode, "sigsuspend") || !strcmp(mode, "sigtimedwait")) sigaddset(&own, SIGUSR1);
  sigprocmask(SIG_SETMASK, &own, NULL);
  /* The temporary mask of ppoll, pselect, epoll_pwait, sigsuspend: different. */
  sigemptyset(&other);
  sigaddset(&other, SIGHUP);
  sigaddset(&other, SIGUSR2);
  sigemptyset(&waited);
  sigaddset(&waited, SIGUSR1);

  int lfd = -1, ep = -1;
  if (!strcmp(mode, "accept")) {
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 16) ||
        getsockname(lfd, (struct sockaddr *)&a, &len)) { perror("socket"); return 1; }
    printf("ready pid=%d port=%d\n", (int)getpid(), ntohs(a.sin_port));
  } else {
    if (!strncmp(mode, "epoll", 5)) {
      ep = epoll_create1(0);
      struct epoll_event ev = {.events = EPOLLIN, .data.fd = 0};
      epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
    }
    printf("ready pid=%d\n", (int)getpid());
  }
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&cv, &ca);

  char line[64];
  for (int iter = 0;; ++iter) {
    TTST_UPDATE_POINT();
    pid_t child = 0;
    if (!strcmp(mode, "wait4")) {
      child = fork();
      if (child == 0) for (;;) pause();
      printf("block %d child=%d\n", iter, (int)child);
    } else {
      printf("block %d\n", iter);
    }
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(0, &rd);
    struct epoll_event out;
    struct timespec rel = {ms / 1000, (ms % 1000) * 1000000L}, abs_t;
    /* t0 is the deadline's own reading: an absolute wait ends at t0 + ms exactly,
     * however long this thread is preempted before it starts to wait. */
    clock_gettime(CLOCK_MONOTONIC, &abs_t);
    long long t0 = abs_t.tv_sec * 1000000LL + abs_t.tv_nsec / 1000, t1;
    abs_t.tv_sec += rel.tv_sec;
    abs_t.tv_nsec += rel.tv_nsec;
    if (abs_t.tv_nsec >= 1000000000L) abs_t.tv_sec++, abs_t.tv_nsec -= 1000000000L;
    siginfo_t si;
    sigset_t before, after;
    sigemptyset(&before);
    sigemptyset(&after);
    sigprocmask(SIG_SETMASK, NULL, &before);
    int stdin_ready = 0;
    long r;
    errno = 777;
    if (!strcmp(mode, "poll")) r = poll(&pfd, 1, -1), stdin_ready = 1;
    else if (!strcmp(mode, "poll_timeout")) r = poll(&pfd, 1, (int)ms);
    else if (!strcmp(mode, "ppoll")) r = ppoll(&pfd, 1, NULL, &other), stdin_ready = 1;
    else if (!strcmp(mode, "select")) r = select(1, &rd, NULL, NULL, NULL), stdin_ready = 1;
    else if (!strcmp(mode, "pselect")) r = pselect(1, &rd, NULL, NULL, NULL, &other), stdin_ready = 1;
    else if (!strcmp(mode, "epoll_wait")) r = epoll_wait(ep, &out, 1, -1), stdin_ready = 1;
    else if (!strcmp(mode, "epoll_pwait")) r = epoll_pwait(ep, &out, 1, -1, &other), stdin_ready = 1;
    else if (!strcmp(mode, "sigsuspend")) r = sigsuspend(&other);
    else if (!strcmp(mode, "nanosleep")) r = nanosleep(&rel, NULL);
    else if (!strcmp(mode, "clock_nanosleep")) r = clock_nanosleep(CLOCK_MONOTONIC, 0, &rel, NULL);
    else if (!strcmp(mode, "clock_nanosleep_abs")) r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs_t, NULL);
    else if (!strcmp(mode, "futex")) {
      pthread_mutex_lock(&mu);
      r = pthread_cond_timedwait(&cv, &mu, &abs_t);
      pthread_mutex_unlock(&mu);
    }
    else if (!strcmp(mode, "read")) r = read(0, line, sizeof line);
    else if (!strcmp(mode, "accept")) r = accept(lfd, NULL, NULL);
    else if (!strcmp(mode, "pause")) r = pause();
    else if (!strcmp(mode, "sigtimedwait")) r = sigwaitinfo(&waited, &si);
    else if (!strcmp(mode, "wait4")) r = wait4(-1, NULL, 0, NULL);
    else { fprintf(stderr, "blockcall: unknown mode '%s'\n", mode); return 2; }
    int e = errno;
    NOW_US(t1);
    sigprocmask(SIG_SETMASK, NULL, &after);
    if (stdin_ready && r > 0 && read(0, line, sizeof line) <= 0) return 3;
    if (!strcmp(mode, "accept") && r >= 0) close((int)r);
    /* The kernel's mask is 64 bits: glibc copies only those. */
    printf("done %d ret=%ld errno=%d t0=%lld t1=%lld mask_kept=%d usr1=%d\n", iter, r, e, t0, t1,
           before.__val[0] == after.__val[0] && after.__val[0] == own.__val[0], (int)usr1);
    if (!strcmp(mode, "wait4") && r != child) return 4;
  }
}
