/* cache_probe.c — checks, from inside a ttst program, the runtime's per-thread
 * cache of freed small blocks (stfw/runtime/ttst_runtime.c): one check per
 * command, exit 0 when it holds, else a line on stderr and exit 1.
 *   cache_probe unlisted   a block freed into the cache is off the lists
 *   cache_probe reuse      the next malloc/calloc of its class takes it back, with
 *                          a fresh dyn_id, listed exactly once; calloc zeroes it
 *   cache_probe classes    every request size 0..1100, freed and reused in mixed
 *                          orders, with every byte written: glibc sees no overrun
 *   cache_probe bound      a thread keeps at most 64 KiB of chunks; a free past
 *                          that gives them all back to glibc
 *   cache_probe exit       a thread's cache is given back to glibc when it exits
 *   cache_probe fork       a forked child reuses the forking thread's cache and
 *                          its lists stay exact
 * The heap is walked in place with ttst_heap_reader.h (identity translation). */
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

#define FAIL(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), exit(1))
#define CHUNK_OF(n) (((n) + 64 + 8 + 15) & ~(size_t)15) /* the runtime's size classes */

static const void *identity(void *c, uint64_t a, uint64_t l) {
  (void)c;
  (void)l;
  return (const void *)(uintptr_t)a;
}

struct find {
  uint64_t addr;
  int hits;
  struct ttst_heap_desc d;
};
static int find_visit(void *c, uint64_t a, const struct ttst_heap_desc *d) {
  struct find *f = c;
  if (a == f->addr) {
    f->hits++;
    f->d = *d;
  }
  return 0;
}
/* How many times the lists hold p (0 or 1 when they are sound); *d gets its
 * descriptor. */
static int listed_at(uintptr_t p, struct ttst_heap_desc *d) {
  struct find f = {p, 0, {0}};
  int64_t n = ttst_heap_walk((uint64_t)(uintptr_t)&__ttst_runtime, identity, NULL, find_visit, &f);
  if (n < 0) FAIL("heap walk failed: %ld", (long)n);
  if (d) *d = f.d;
  return f.hits;
}
#define listed(p, d) listed_at((uintptr_t)(p), (d))
static uint64_t dyn_id(void *p) {
  struct ttst_heap_desc d;
  if (listed(p, &d) != 1) FAIL("a live block is not listed once");
  return d.dyn_id;
}

static void unlisted(void) {
  void *p = malloc(100);
  if (listed(p, NULL) != 1) FAIL("a live block is not listed once");
  int64_t before = ttst_heap_walk((uint64_t)(uintptr_t)&__ttst_runtime, identity, NULL, NULL, NULL);
  uintptr_t a = (uintptr_t)p;
  free(p);
  if (listed_at(a, NULL) != 0) FAIL("a block freed into the cache is still listed");
  if (((struct ttst_heap_desc *)a - 1)->magic != 0) FAIL("a cached block keeps its magic");
  int64_t after = ttst_heap_walk((uint64_t)(uintptr_t)&__ttst_runtime, identity, NULL, NULL, NULL);
  if (after != before - 1) FAIL("walk counts %ld then %ld", (long)before, (long)after);
}

static void reuse(void) {
  char *p = malloc(200);
  uint64_t id = dyn_id(p);
  memset(p, 0xff, 200);
  uintptr_t pa = (uintptr_t)p;
  free(p);
  char *q = malloc(190); /* same class: (190+87)/16 == (200+87)/16 */
  if ((uintptr_t)q != pa) FAIL("malloc of the same class did not take the cached block");
  struct ttst_heap_desc d;
  if (listed(q, &d) != 1) FAIL("a reused block is not listed exactly once");
  if (d.dyn_id <= id) FAIL("a reused block kept an old dyn_id (%lu <= %lu)", (unsigned long)d.dyn_id,
                           (unsigned long)id);
  if (d.size != 190 || (d.flags & TTST_HEAP_F_ZEROED)) FAIL("wrong size or flags on reuse");
  if (malloc_usable_size(q) != 190) FAIL("malloc_usable_size != request");
  free(q);
  char *z = calloc(2, 95);
  if ((uintptr_t)z != pa) FAIL("calloc of the same class did not take the cached block");
  for (int i = 0; i < 190; i++)
    if (z[i]) FAIL("calloc from the cache: byte %d not zero", i);
  if (listed(z, &d) != 1 || !(d.flags & TTST_HEAP_F_ZEROED) || d.dyn_id <= id)
    FAIL("calloc from the cache: not listed once, not ZEROED, or old dyn_id");
  char *r = realloc(z, 5000); /* a reused block is a normal glibc block */
  if (!r || listed(r, &d) != 1 || r[100] != 0) FAIL("realloc of a reused block");
  free(r);
}

static void classes(void) {
  enum { N = 1101, ROUNDS = 40 };
  static unsigned char *p[N];
  uint64_t s = 88172645463325252ull;
  for (int round = 0; round < ROUNDS; round++) {
    for (int i = 0; i < N; i++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      int n = (int)(s % N);
      if (p[n]) continue;
      p[n] = (round & 1) ? calloc(1, (size_t)n) : malloc((size_t)n);
      if (!p[n]) FAIL("malloc(%d) failed", n);
      memset(p[n], n & 0xff, (size_t)n);
    }
    for (int n = 0; n < N; n++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      if (p[n] && s % 2) {
        for (int k = 0; k < n; k++)
          if (p[n][k] != (n & 0xff)) FAIL("block of %d bytes overwritten at %d", n, k);
        if (listed(p[n], NULL) != 1) FAIL("block of %d not listed", n);
        free(p[n]);
        p[n] = NULL;
      }
    }
  }
  for (int n = 0; n < N; n++) free(p[n]);
  malloc_trim(0); /* walks glibc's bins: a corrupted chunk header aborts here */
}

/* In a fresh thread (an empty cache): blocks of 1 KiB (chunk 1104, past glibc's
 * tcache, so glibc's free count sees them) fill the 64 KiB and glibc gets
 * nothing back; the next free, of another class, gives all of them back to glibc
 * (a class no longer used never crowds out another) and is itself cached. */
static void *bound_thread(void *unused) {
  (void)unused;
  enum { K = 65536 / CHUNK_OF(1024) }; /* 59 */
  static void *p[K];
  for (int i = 0; i < K; i++) p[i] = malloc(1024);
  void *q = malloc(1000); /* chunk 1072 */
  void *guard = malloc(1024); /* keeps them off the top chunk */
  size_t f0 = mallinfo2().fordblks;
  for (int i = 0; i < K; i++) free(p[i]);
  size_t f1 = mallinfo2().fordblks;
  if (f1 != f0) FAIL("glibc got %zu bytes back from a cache below 64 KiB", f1 - f0);
  uintptr_t qa = (uintptr_t)q;
  free(q);
  size_t f2 = mallinfo2().fordblks;
  if (f2 - f1 != K * CHUNK_OF(1024))
    FAIL("a full cache gave glibc %zu bytes back, expected all %zu", f2 - f1, K * CHUNK_OF(1024));
  if ((uintptr_t)malloc(1000) != qa) FAIL("the free that drained the cache was not cached");
  free(guard);
  return NULL;
}
static void bound(void) {
  mallopt(M_ARENA_MAX, 1);            /* the thread in the main arena: mallinfo2 sees it */
  mallopt(M_TRIM_THRESHOLD, 1 << 30); /* freed bytes stay in glibc's free count */
  pthread_t t;
  if (pthread_create(&t, NULL, bound_thread, NULL)) FAIL("pthread_create");
  pthread_join(t, NULL);
}

static pthread_barrier_t freed, measured;
static void *exiting(void *arg) {
  int cache = *(int *)arg;
  void *p[8];
  for (int i = 0; i < 8; i++) p[i] = malloc(1024);
  void *guard = malloc(1024);
  (void)guard; /* leaked on purpose: keeps the blocks off the top chunk */
  for (int i = 0; i < 8; i++) {
    if (cache) free(p[i]);
    else __atomic_store_n((char *)p[i], 0, __ATOMIC_RELAXED); /* kept, never freed */
  }
  pthread_barrier_wait(&freed);
  pthread_barrier_wait(&measured);
  return NULL;
}
/* glibc's free bytes gained when a thread exits, after it freed (or kept) 8
 * blocks of 1 KiB. */
static size_t exit_gain(int cache) {
  pthread_t t;
  pthread_barrier_init(&freed, NULL, 2);
  pthread_barrier_init(&measured, NULL, 2);
  if (pthread_create(&t, NULL, exiting, &cache)) FAIL("pthread_create");
  pthread_barrier_wait(&freed);
  size_t f0 = mallinfo2().fordblks;
  pthread_barrier_wait(&measured);
  pthread_join(t, NULL);
  size_t f1 = mallinfo2().fordblks;
  pthread_barrier_destroy(&freed);
  pthread_barrier_destroy(&measured);
  return f1 - f0;
}
static void thread_exit(void) {
  mallopt(M_ARENA_MAX, 1); /* every thread in the main arena: mallinfo2 sees all */
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  exit_gain(1); /* warm: the first thread's stack and structures */
  exit_gain(0);
  size_t kept = exit_gain(0), cached = exit_gain(1);
  if (cached - kept != 8 * CHUNK_OF(1024))
    FAIL("thread exit gave back %zu bytes more with a full cache, expected %zu", cached - kept,
         8 * CHUNK_OF(1024));
}

static void *spin(void *arg) {
  volatile int *stop = arg;
  while (!*stop) free(malloc(48));
  return NULL;
}
static void fork_child(void) {
  volatile int stop = 0;
  pthread_t t;
  pthread_create(&t, NULL, spin, (void *)&stop); /* not single-threaded: locks taken */
  void *p = malloc(300);
  uint64_t id = dyn_id(p);
  uintptr_t pa = (uintptr_t)p;
  free(p);
  pid_t c = fork();
  if (c == 0) {
    void *q = malloc(300);
    struct ttst_heap_desc d;
    if ((uintptr_t)q != pa) FAIL("child: the forking thread's cache was not reused");
    if (listed(q, &d) != 1 || d.dyn_id <= id) FAIL("child: reused block not listed once / old id");
    uintptr_t a = (uintptr_t)q;
    free(q);
    if (listed_at(a, NULL) != 0) FAIL("child: freed block listed");
    _exit(0);
  }
  int st;
  waitpid(c, &st, 0);
  stop = 1;
  pthread_join(t, NULL);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) FAIL("child failed: status %#x", st);
  void *q = malloc(300);
  if ((uintptr_t)q != pa || listed(q, NULL) != 1) FAIL("parent: cached block not reused after fork");
  free(q);
}

int main(int argc, char **argv) {
  if (argc != 2) FAIL("usage: cache_probe unlisted|reuse|classes|bound|exit|fork");
  const char *c = argv[1];
  if (!strcmp(c, "unlisted")) unlisted();
  else if (!strcmp(c, "reuse")) reuse();
  else if (!strcmp(c, "classes")) classes();
  else if (!strcmp(c, "bound")) bound();
  else if (!strcmp(c, "exit")) thread_exit();
  else if (!strcmp(c, "fork")) fork_child();
  else FAIL("cache_probe: unknown check %s", c);
  return 0;
}
