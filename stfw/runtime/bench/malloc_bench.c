/* malloc_bench.c — cost of the ttst runtime, printed (not a timed test).
 *   malloc/free with the runtime (the program's malloc) versus plain glibc
 *   (__libc_malloc/__libc_free) in the same process, sizes 16 B .. 1 MiB, two
 *   patterns: a malloc+free pair repeated, and 256 mallocs then 256 frees;
 *   and the cost of one TTST_UPDATE_POINT() check with no update pending.
 * Each figure is the best of 7 trials (ns per operation). Goal: <= 10 % overhead,
 * <= 1 ns per update point. Run: bazel-bin/stfw/runtime/bench/malloc_bench
 * [SCALE] [mt]; "mt" first starts an idle second thread, so that the process is
 * not single-threaded (glibc and the runtime take their locks). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ttst.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);

#define SINK(p) __asm__ __volatile__("" ::"r"(p) : "memory")

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

typedef void *(*alloc_fn)(size_t);
typedef void (*free_fn)(void *);

static void *slots[256];
volatile long bench_sink;

/* ns per (malloc + free) pair */
static double pairs(alloc_fn a, free_fn f, size_t size, long iters) {
  double best = 1e30;
  for (int trial = 0; trial < 7; trial++) {
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
      void *p = a(size);
      SINK(p);
      f(p);
    }
    double t = (now_ns() - t0) / iters;
    if (t < best) best = t;
  }
  return best;
}

/* ns per (malloc + free), 256 live at a time */
static double batches(alloc_fn a, free_fn f, size_t size, long rounds) {
  double best = 1e30;
  for (int trial = 0; trial < 7; trial++) {
    double t0 = now_ns();
    for (long r = 0; r < rounds; r++) {
      for (int i = 0; i < 256; i++) {
        slots[i] = a(size);
        SINK(slots[i]);
      }
      for (int i = 0; i < 256; i++) f(slots[i]);
    }
    double t = (now_ns() - t0) / (rounds * 256.0);
    if (t < best) best = t;
  }
  return best;
}

__attribute__((noinline)) static double loop_cost(long n, int with_upoint) {
  extern volatile long bench_sink;
#define sink bench_sink
  double best = 1e30;
  for (int trial = 0; trial < 7; trial++) {
    double t0 = now_ns();
    if (with_upoint)
      for (long i = 0; i < n; i++) {
        TTST_UPDATE_POINT();
        sink = i;
      }
    else
      for (long i = 0; i < n; i++) sink = i;
    double t = (now_ns() - t0) / n;
    if (t < best) best = t;
  }
  return best;
}

static void *idle(void *unused) {
  (void)unused;
  for (;;) pause();
  return NULL;
}

int main(int argc, char **argv) {
  double scale = argc > 1 ? atof(argv[1]) : 1.0;
  if (argc > 2 && !strcmp(argv[2], "mt")) {
    pthread_t t;
    if (pthread_create(&t, NULL, idle, NULL)) return 1;
    printf("with an idle second thread (not single-threaded)\n");
  }
  static const size_t sizes[] = {16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576};
  printf("%-9s %12s %12s %9s   %12s %12s %9s\n", "size", "pair glibc", "pair ttst", "overhead",
         "batch glibc", "batch ttst", "overhead");
  double sum_g = 0, sum_t = 0, logp = 0, logb = 0;
  int nsizes = 0;
  for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t s = sizes[k];
    long it = (long)(2000000 * scale), rounds = (long)(2000 * scale);
    if (s >= 65536) { it /= 10; rounds /= 10; }
    if (it < 1) it = 1;
    if (rounds < 1) rounds = 1;
    pairs(malloc, free, s, it / 10 + 1); /* warm both */
    pairs(__libc_malloc, __libc_free, s, it / 10 + 1);
    double pg = pairs(__libc_malloc, __libc_free, s, it), pt = pairs(malloc, free, s, it);
    double bg = batches(__libc_malloc, __libc_free, s, rounds), bt = batches(malloc, free, s, rounds);
    logp += log(pt / pg);
    logb += log(bt / bg);
    nsizes++;
    sum_g += pg + bg;
    sum_t += pt + bt;
    printf("%-9zu %9.1f ns %9.1f ns %+8.0f%%   %9.1f ns %9.1f ns %+8.0f%%\n", s, pg, pt,
           100 * (pt - pg) / pg, bg, bt, 100 * (bt - bg) / bg);
  }
  printf("geometric mean over sizes: pair %+.0f%%, batch %+.0f%%; summed time %+.0f%% (goal <= +10%%)\n",
         100 * (exp(logp / nsizes) - 1), 100 * (exp(logb / nsizes) - 1), 100 * (sum_t - sum_g) / sum_g);
  long n = (long)(200000000 * scale);
  double base = loop_cost(n, 0), up = loop_cost(n, 1);
  printf("update point check: %.3f ns per loop with it, %.3f ns without: %.3f ns each (goal <= 1 ns)\n",
         up, base, up - base);
  return 0;
}
