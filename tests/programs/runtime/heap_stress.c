/* heap_stress.c — random allocations across threads, for the heap enumeration
 * tests. Every block the program holds is in slots[]; a reader of a memory copy
 * must find exactly these (plus libc's own, flagged TTST_HEAP_F_FROM_LIB).
 *   heap_stress plain THREADS OPS      ops, join, "READY", wait for a line on stdin
 *   heap_stress fork THREADS OPS       same, then fork: the child runs another
 *                                      round and reports first, then the parent
 *   heap_stress forkbusy THREADS OPS   fork 10 times while threads allocate; each
 *                                      child checks its own lists in place, runs a
 *                                      round, exits 0 if all is consistent
 * READY line: "READY <pid> <&__ttst_runtime> <&slots> <NSLOTS>" */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ttst.h>
#include <ttst_heap_reader.h>

#define NSLOTS 4096
struct slot {
  void *p;
  uint64_t size;
  uint32_t lock;
  uint32_t pad;
};
struct slot slots[NSLOTS];
static long ops_per_thread;
static volatile int stop_flag;

static uint64_t rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static size_t rsize(uint64_t *s) {
  uint64_t r = rnd(s);
  switch (r % 8) {
    case 0: return r >> 60;                 /* 0..15 */
    case 1: case 2: case 3: return (r >> 40) % 256;
    case 4: case 5: return (r >> 40) % 4096;
    case 6: return (r >> 40) % 65536;
    default: return (r >> 40) % 300000;
  }
}

static void one_op(uint64_t *s) {
  struct slot *sl = &slots[rnd(s) % NSLOTS];
  if (__atomic_exchange_n(&sl->lock, 1, __ATOMIC_ACQUIRE)) return;
  if (!sl->p) {
    size_t n = rsize(s);
    void *p = NULL;
    char tmp[64];
    switch (rnd(s) % 9) {
      case 0: case 1: case 2: p = malloc(n); break;
      case 3: p = calloc(1 + n % 7, n / 7 + 1); n = (1 + n % 7) * (n / 7 + 1); break;
      case 4: if (posix_memalign(&p, (size_t)8 << (rnd(s) % 8), n)) p = NULL; break;
      case 5: p = aligned_alloc(64, n); break;
      case 6: p = memalign(4096, n); break;
      case 7:
        memset(tmp, 'x', sizeof tmp);
        tmp[n % 64] = 0;
        p = strdup(tmp);
        n = n % 64 + 1;
        break;
      default: p = strndup("0123456789abcdef", n % 20); n = (n % 20 < 16 ? n % 20 : 16) + 1; break;
    }
    if (p && n) ((char *)p)[n - 1] = 1;
    sl->p = p;
    sl->size = p ? n : 0;
  } else if (rnd(s) % 4 == 0) {
    size_t n = rsize(s) + 1;
    void *q = realloc(sl->p, n);
    if (q) {
      sl->p = q;
      sl->size = n;
      ((char *)q)[n - 1] = 2;
    }
  } else {
    free(sl->p);
    sl->p = NULL;
    sl->size = 0;
  }
  __atomic_store_n(&sl->lock, 0, __ATOMIC_RELEASE);
}

static void *worker(void *arg) {
  uint64_t s = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
  for (long i = 0; i < ops_per_thread || (ops_per_thread < 0 && !stop_flag); i++) one_op(&s);
  return NULL;
}

static void round_of(int threads, long ops, uint64_t seed) {
  pthread_t t[64];
  ops_per_thread = ops;
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(seed + i));
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
}

static void ready_and_wait(void) {
  printf("READY %ld %p %p %d\n", (long)getpid(), (void *)&__ttst_runtime, (void *)slots, NSLOTS);
  fflush(stdout);
  char line[16];
  if (!fgets(line, sizeof line, stdin)) exit(3);
}

/* In-place check for forkbusy children: lists consistent and every slot found. */
static const void *identity(void *c, uint64_t a, uint64_t l) { (void)c; (void)l; return (const void *)(uintptr_t)a; }
static int count_exe(void *c, uint64_t a, const struct ttst_heap_desc *d) {
  (void)a;
  if (!(d->flags & TTST_HEAP_F_FROM_LIB)) ++*(long *)c;
  return 0;
}
static int child_check(int threads_at_fork) {
  long exe = 0, held = 0, locked = 0;
  int64_t n = ttst_heap_walk((uint64_t)(uintptr_t)&__ttst_runtime, identity, NULL, count_exe, &exe);
  if (n < 0) return 10;
  for (int i = 0; i < NSLOTS; i++) {
    if (slots[i].lock) { /* mid-operation in a thread that does not exist here */
      locked++; /* its pointer may be stale or reused: drop it (leak, in this child) */
      slots[i].lock = 0;
      slots[i].p = NULL;
      continue;
    }
    if (slots[i].p) {
      held++;
      if (((struct ttst_heap_desc *)slots[i].p - 1)->magic != TTST_HEAP_LIVE) return 11;
    }
  }
  /* a vanished thread holds at most one slot lock and one block in flight */
  if (locked > threads_at_fork || exe < held || exe > held + 2 * locked) return 12;
  round_of(2, 20000, 77);
  int64_t m = ttst_heap_walk((uint64_t)(uintptr_t)&__ttst_runtime, identity, NULL, NULL, NULL);
  if (m < 0) fprintf(stderr, "walk after round: %ld\n", (long)m);
  return m < 0 ? 13 : 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: heap_stress plain|fork|forkbusy THREADS OPS\n");
    return 2;
  }
  /* stdin unbuffered: its first fgets (after "READY", while the test copies our
   * memory) must not allocate a stdio buffer mid-copy. */
  setvbuf(stdin, NULL, _IONBF, 0);
  int threads = atoi(argv[2]);
  long ops = atol(argv[3]);
  if (threads < 1 || threads > 64) return 2;
  if (!strcmp(argv[1], "forkbusy")) {
    pthread_t t[64];
    ops_per_thread = -1;
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    int ok = 0, bad = 0;
    for (int k = 0; k < 10; k++) {
      usleep(20000);
      pid_t c = fork();
      if (c == 0) {
        alarm(30);
        _exit(child_check(threads));
      }
      int st;
      waitpid(c, &st, 0);
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
      else {
        bad++;
        fprintf(stderr, "child %d: status %#x\n", k, st);
      }
    }
    stop_flag = 1;
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    printf("FORKS ok=%d bad=%d\n", ok, bad);
    ready_and_wait();
    return 0;
  }
  round_of(threads, ops, 1);
  if (!strcmp(argv[1], "fork")) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
      round_of(threads, ops / 2, 1000);
      ready_and_wait();
      return 0;
    }
    int st;
    waitpid(c, &st, 0);
  }
  ready_and_wait();
  return 0;
}
