/* blocker.c — a test target that blocks in one system call and reports, when the
 * call returns, its result, errno and how many SIGUSR1 it received. Used by the
 * inject tests: an injection while it is blocked must be invisible to it.
 *   blocker read|accept|epoll|nanosleep|sigtimedwait [ms]
 * (sigtimedwait: SIGUSR2 blocked and waited for with no timeout; send it to end.)
 * Prints "ready[ port=N]" once set up, then one result line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

static volatile sig_atomic_t usr1_count;
static volatile long ticks;

/* "threads" mode: a second thread that keeps sleeping and counting. */
static void *ticker(void *arg) {
  (void)arg;
  for (;;) {
    struct timespec t = {0, 5000000};
    nanosleep(&t, NULL);
    ticks++;
  }
  return NULL;
}
static void on_usr1(int sig) { (void)sig; usr1_count++; }

/* Writable state with a recognisable pattern, for memory hashing. */
static unsigned char pattern[65536];

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc < 2) { fprintf(stderr, "usage: blocker read|accept|epoll|nanosleep|sigtimedwait|threads [ms]\n"); return 2; }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  for (size_t i = 0; i < sizeof pattern; ++i) pattern[i] = (unsigned char)(i * 7 + 3);
  char *heap = malloc(1 << 20);
  memset(heap, 0x5a, 1 << 20);

  const char *mode = argv[1];
  long r;
  int err;
  char buf[128] = {0};
  if (strcmp(mode, "threads") == 0) {
    pthread_t th;
    pthread_create(&th, NULL, ticker, NULL);
    printf("ready\n");
    r = read(0, buf, sizeof buf - 1);
    err = errno;
    if (r > 0 && buf[r - 1] == '\n') buf[r - 1] = 0;
    printf("threads ret=%ld errno=%d data=%s ticking=%d\n", r, r < 0 ? err : 0, buf, ticks > 0);
  } else if (strcmp(mode, "read") == 0) {
    printf("ready\n");
    r = read(0, buf, sizeof buf - 1);
    err = errno;
    if (r > 0 && buf[r - 1] == '\n') buf[r - 1] = 0;
    printf("read ret=%ld errno=%d data=%s usr1=%d\n", r, r < 0 ? err : 0, buf, (int)usr1_count);
  } else if (strcmp(mode, "accept") == 0) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4) ||
        getsockname(s, (struct sockaddr *)&a, &len)) { perror("socket"); return 1; }
    printf("ready port=%d\n", ntohs(a.sin_port));
    int c = accept(s, NULL, NULL);
    err = errno;
    if (c >= 0) { r = read(c, buf, sizeof buf - 1); if (r > 0 && buf[r - 1] == '\n') buf[r - 1] = 0; }
    printf("accept ret=%d errno=%d data=%s usr1=%d\n", c >= 0 ? 0 : -1, c < 0 ? err : 0, buf, (int)usr1_count);
  } else if (strcmp(mode, "epoll") == 0) {
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = 0};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
    printf("ready\n");
    struct epoll_event out;
    r = epoll_wait(ep, &out, 1, -1);
    err = errno;
    /* epoll_wait is never restarted after a handler (man 7 signal): count EINTRs. */
    printf("epoll ret=%ld errno=%d fd=%d usr1=%d\n", r, r < 0 ? err : 0, r > 0 ? out.data.fd : -1, (int)usr1_count);
  } else if (strcmp(mode, "nanosleep") == 0) {
    long ms = argc > 2 ? atol(argv[2]) : 500;
    struct timespec t0, t1, req = {ms / 1000, (ms % 1000) * 1000000L}, rem = {0, 0};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    printf("ready\n");
    r = nanosleep(&req, &rem);
    err = errno;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("nanosleep ret=%ld errno=%d elapsed_ms=%ld usr1=%d\n", r, r < 0 ? err : 0, el, (int)usr1_count);
  } else if (strcmp(mode, "sigtimedwait") == 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    printf("ready\n");
    siginfo_t si;
    r = sigtimedwait(&set, &si, NULL);
    err = errno;
    /* rt_sigtimedwait is never restarted (man 7 signal): an EINTR shows here. */
    printf("sigtimedwait ret=%ld errno=%d usr1=%d\n", r, r < 0 ? err : 0, (int)usr1_count);
  } else {
    fprintf(stderr, "blocker: unknown mode '%s' (read|accept|epoll|nanosleep|sigtimedwait)\n", mode);
    return 2;
  }
  unsigned sum = 0;
  for (size_t i = 0; i < sizeof pattern; ++i) sum += pattern[i];
  printf("pattern=%u heap=%d\n", sum, heap[12345]);
  return 0;
}
