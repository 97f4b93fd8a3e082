/* ttst_runtime.c — the runtime ttst-cc links into every program (TRUSTED: it runs
 * inside the past version). Three jobs, all specified in ttst_abi.h:
 *   - heap tracking: malloc & co. are defined here, in the executable, so every
 *     call (the program's, libc's, any shared library's) comes here; each block
 *     gets an in-band descriptor linked on a per-thread stripe list (§3a);
 *   - the update point slow path: one marker system call, then self-clear (§4);
 *   - future mode: take TTST_FUTURE_VERSION out of the environment (§5).
 * Plain C, no allocation of its own, no system call except the marker (and, in a
 * future version during a large transfer, the heap's huge-page hint). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ttst_abi.h"

/* glibc's own allocator entry points (exported by libc.so.6 since 2.2.5). */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

/* Linker-defined bounds of the executable's text (for TTST_HEAP_F_FROM_LIB). */
extern char __executable_start[];
extern char etext[];

#define DESC sizeof(struct ttst_heap_desc)
#define RT __ttst_runtime
#define HEAD(i)                                                                  \
  { .head = { .prev = &RT.stripes[i].head, .next = &RT.stripes[i].head,          \
              .flags = (i) << TTST_HEAP_STRIPE_SHIFT, .magic = TTST_HEAP_HEAD } }

__attribute__((aligned(64), used)) struct ttst_runtime __ttst_runtime = {
    .magic = TTST_RUNTIME_MAGIC,
    .abi_version = TTST_ABI_VERSION,
    .desc_size = DESC,
    .next_dyn_id = 1,
    .stripes = {HEAD(0), HEAD(1), HEAD(2), HEAD(3), HEAD(4), HEAD(5), HEAD(6),
                HEAD(7), HEAD(8), HEAD(9), HEAD(10), HEAD(11), HEAD(12), HEAD(13),
                HEAD(14), HEAD(15)},
};

_Static_assert(sizeof(struct ttst_heap_desc) == 64, "descriptor keeps 16-byte alignment");
_Static_assert(sizeof(struct ttst_heap_stripe) == 128, "one stripe, two cache lines");
_Static_assert(offsetof(struct ttst_runtime, stripes) == 64, "documented offset");

/* ---- heap tracking --------------------------------------------------------- */

static uint32_t next_stripe;              /* round-robin dealer of stripes */
static __thread uint32_t my_stripe_plus1; /* 0: not dealt yet */
static __thread uint64_t my_next_id, my_end_id; /* this thread's block of IDs */
#define ID_BLOCK 64

/* Speed: the rare paths of malloc and free below (a new block of IDs, a thread's
 * first stripe, a contended lock) call no function, so that the common paths
 * compile to leaf code that saves no register (a few ns per malloc/free pair).
 *
 * Dynamic IDs come in blocks of ID_BLOCK per thread: one atomic per 64
 * allocations. Unique per process, increasing in each thread's order. */
static inline uint64_t next_id_block(void) {
  my_next_id = __atomic_fetch_add(&RT.next_dyn_id, ID_BLOCK, __ATOMIC_RELAXED);
  my_end_id = my_next_id + ID_BLOCK;
  return my_next_id++;
}
static inline uint64_t next_id(void) {
  uint64_t id = my_next_id;
  if (__builtin_expect(id == my_end_id, 0)) return next_id_block();
  my_next_id = id + 1;
  return id;
}

static inline uint32_t deal_stripe(void) {
  uint32_t s = __atomic_fetch_add(&next_stripe, 1, __ATOMIC_RELAXED) % TTST_HEAP_STRIPES + 1;
  my_stripe_plus1 = s;
  return s - 1;
}
static inline uint32_t my_stripe(void) {
  uint32_t s = my_stripe_plus1;
  if (__builtin_expect(s == 0, 0)) return deal_stripe();
  return s - 1;
}

/* A spin lock held for a handful of stores. If its holder was preempted, yield
 * the CPU rather than spin through a time slice (the waiter holds no lock; a raw
 * sched_yield, so the waiting loop calls no function).
 * While the process has a single thread (glibc's __libc_single_threaded, cleared
 * before a second thread starts and never set again) nobody can race for it: the
 * lock is not taken, and stays 0 as the heap walk requires. */
static inline void lock_wait(volatile uint32_t *l) {
  for (unsigned spins = 0; *l; spins++) {
    if (spins < 64) {
      __builtin_ia32_pause();
    } else { /* sched_yield, as a raw system call: it clobbers rax, rcx, r11 only */
      long rax = SYS_sched_yield;
      __asm__ __volatile__("syscall" : "+a"(rax) : : "rcx", "r11", "memory");
    }
  }
}
static inline void lock_always(volatile uint32_t *l) {
  while (__builtin_expect(__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE), 0)) lock_wait(l);
}
static inline void unlock_always(volatile uint32_t *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }
/* Takes l unless the process is single-threaded; returns whether it did. */
static inline int lock(volatile uint32_t *l) {
  int mt = !__libc_single_threaded;
  if (mt) lock_always(l);
  return mt;
}
static inline void unlock(volatile uint32_t *l, int locked) {
  if (locked) unlock_always(l);
}

/* TTST_HEAP_F_FROM_LIB for a site outside the executable's text (one compare). */
static inline uint32_t from_lib(uintptr_t site) {
  return site - (uintptr_t)__executable_start >= (uintptr_t)etext - (uintptr_t)__executable_start
             ? TTST_HEAP_F_FROM_LIB : 0;
}

/* Writes the descriptor d (off bytes into its glibc block) and links it on this
 * thread's stripe; returns the program's pointer. */
static inline __attribute__((always_inline)) void *
link_desc(struct ttst_heap_desc *d, uint32_t off, size_t size, uintptr_t site, uint32_t flags,
          uint64_t dyn_id, uint64_t origin_id) {
  uint32_t s = my_stripe();
  struct ttst_heap_stripe *st = &RT.stripes[s];
  d->size = size;
  d->site = site;
  d->dyn_id = dyn_id ? dyn_id : next_id();
  d->origin_id = origin_id;
  d->flags = flags | from_lib(site) | (s << TTST_HEAP_STRIPE_SHIFT);
  d->offset = off;
  d->magic = TTST_HEAP_LIVE;
  d->prev = &st->head;
  int locked = lock(&st->lock);
  struct ttst_heap_desc *first = st->head.next;
  d->next = first;
  first->prev = d;
  st->head.next = d;
  st->live++;
  unlock(&st->lock, locked);
  return d + 1;
}

static inline __attribute__((always_inline)) void *
track(void *base, uint32_t off, size_t size, uintptr_t site, uint32_t flags, uint64_t dyn_id,
      uint64_t origin_id) {
  if (!base) return NULL;
  return link_desc((struct ttst_heap_desc *)((char *)base + off), off, size, site, flags,
                   dyn_id, origin_id);
}

/* The descriptor of a pointer we handed out, or NULL for a foreign one. */
static inline struct ttst_heap_desc *desc_of(void *p) {
  struct ttst_heap_desc *d = (struct ttst_heap_desc *)p - 1;
  return d->magic == TTST_HEAP_LIVE ? d : NULL;
}

/* Unlinks d and clears its magic: from here on no walk can see it. */
static inline void unlink_desc(struct ttst_heap_desc *d) {
  struct ttst_heap_stripe *st = &RT.stripes[TTST_HEAP_STRIPE_OF(d->flags)];
  int locked = lock(&st->lock);
  struct ttst_heap_desc *prev = d->prev, *next = d->next;
  prev->next = next;
  next->prev = prev;
  st->live--;
  unlock(&st->lock, locked);
  d->magic = 0;
}

/* Unlinks d; returns the start of its underlying glibc block. */
static inline void *untrack(struct ttst_heap_desc *d) {
  unlink_desc(d);
  return (char *)d - d->offset;
}

/* ---- the per-thread cache of freed small blocks ------------------------------
 * Like glibc's tcache, one level up: a block the program frees whose request was
 * at most CACHE_MAX_SIZE bytes is unlinked (never enumerated again: magic 0, off
 * every list) and kept on its thread's list for its size class, so the next
 * malloc/calloc of that class takes it back without entering glibc, and relinks it
 * with a fresh dyn_id. Class = the glibc chunk size the block with its descriptor
 * needs ((n + 64 + 8 + 15) & ~15; requests are rounded up to that chunk's usable
 * size, which glibc would have handed out anyway), so a cached block always fits
 * any request of its class, whatever glibc actually gave (realloc in place may
 * have left it larger). Bound: the chunks a thread caches add up to at most
 * CACHE_BYTES (64 KiB; glibc's own tcache holds up to ~240 KiB per thread on top);
 * a free that would pass it first gives the whole cache back to glibc.
 * Purely thread-local: no lock, no atomic. Flushed to glibc when the thread exits
 * (pthread key destructor; after that the thread frees straight to glibc). A
 * forked child keeps the forking thread's cache (its blocks are valid in the
 * child); the caches of threads that do not exist in the child are lost, at most
 * 64 KiB each, like glibc's own tcaches. */
#define CACHE_MAX_SIZE 1024u
#define CACHE_BYTES 65536u
#define CHUNK_OF(n) ((size_t)TTST_HEAP_CHUNK_OF(n)) /* glibc's request2size (ttst_abi.h) */
#define CLASS_OF(n) (((n) + DESC + 8 + 15) / 16 - (DESC + 8 + 15) / 16)
#define CACHE_CLASSES (CLASS_OF(CACHE_MAX_SIZE) + 1)

static __thread struct ttst_heap_desc *cache[CACHE_CLASSES]; /* chained through `next` */
static __thread size_t cache_bytes; /* sum of CHUNK_OF over the cached blocks */
enum { CACHE_UNSET = 0, CACHE_ON, CACHE_OFF };
static __thread uint32_t cache_state; /* CACHE_OFF once the thread is exiting */
static pthread_key_t cache_key;
static uint32_t cache_key_ok; /* set by ttst_init */

/* Gives every block of this thread's cache back to glibc. */
static void cache_drain(void) {
  for (unsigned c = 0; c < CACHE_CLASSES; c++) {
    struct ttst_heap_desc *d = cache[c];
    while (d) {
      struct ttst_heap_desc *next = d->next;
      __libc_free(d);
      d = next;
    }
    cache[c] = NULL;
  }
  cache_bytes = 0;
}

/* Thread exit (pthread key destructor): drain, and cache nothing from here on. */
static void cache_flush(void *unused) {
  (void)unused;
  cache_state = CACHE_OFF;
  cache_drain();
}

/* First block this thread caches: arrange for the flush at its exit. */
static int cache_start(void) {
  if (cache_state != CACHE_UNSET) return cache_state == CACHE_ON;
  if (!__atomic_load_n(&cache_key_ok, __ATOMIC_ACQUIRE)) return 0; /* before ttst_init */
  cache_state = CACHE_OFF; /* in case pthread_setspecific frees */
  if (pthread_setspecific(cache_key, (void *)1) != 0) return 0;
  cache_state = CACHE_ON;
  return 1;
}

/* A cached block for a request of n bytes (<= CACHE_MAX_SIZE), or NULL. */
static inline struct ttst_heap_desc *cache_take(size_t n) {
  struct ttst_heap_desc **first = &cache[CLASS_OF(n)], *d = *first;
  if (d) {
    *first = d->next;
    cache_bytes -= CHUNK_OF(n);
  }
  return d;
}

/* Keeps d (unlinked, offset 0, size <= CACHE_MAX_SIZE) in this thread's cache. */
static inline void cache_put(struct ttst_heap_desc *d, size_t chunk) {
  struct ttst_heap_desc **first = &cache[CLASS_OF(d->size)];
  d->next = *first;
  *first = d;
  cache_bytes += chunk;
}

#define SITE ((uintptr_t)__builtin_return_address(0))

/* A plain block from glibc gets its descriptor: a separate leaf function, so
 * that malloc keeps only n and site across its call into glibc. */
static __attribute__((noinline)) void *track_plain(void *base, size_t n, uintptr_t site) {
  return track(base, 0, n, site, 0, 0, 0);
}

static inline void *do_malloc(size_t n, uintptr_t site) {
  if (n <= CACHE_MAX_SIZE) {
    struct ttst_heap_desc *d = cache_take(n);
    if (d) return link_desc(d, 0, n, site, 0, 0, 0);
    return track_plain(__libc_malloc(CHUNK_OF(n) - 8), n, site);
  }
  if (n > SIZE_MAX - DESC) { errno = ENOMEM; return NULL; }
  return track_plain(__libc_malloc(n + DESC), n, site);
}

/* Alignment > 16: pad the front so the descriptor sits right before the aligned
 * pointer; offset records the padding. */
static void *do_memalign(size_t align, size_t n, uintptr_t site) {
  if (align <= 16) return track(n > SIZE_MAX - DESC ? (errno = ENOMEM, NULL)
                                                    : __libc_malloc(n + DESC),
                                0, n, site, TTST_HEAP_F_ALIGNED, 0, 0);
  if (align & (align - 1)) { /* glibc rounds odd alignments up to a power of 2 */
    size_t a = 32;
    while (a && a < align) a <<= 1;
    if (!a) { errno = EINVAL; return NULL; }
    align = a;
  }
  size_t pad = align > DESC ? align : DESC;
  if (pad > UINT32_MAX || n > SIZE_MAX - pad) { errno = ENOMEM; return NULL; }
  void *base = __libc_memalign(align, n + pad);
  return track(base, (uint32_t)(pad - DESC), n, site, TTST_HEAP_F_ALIGNED, 0, 0);
}

/* The transfer announces how many bytes it is about to allocate here (descriptors
 * included). A large transfer grows glibc's heap ahead of its blocks in steps of up
 * to GROW_STEP, each step's new pages marked for transparent huge pages: one fault
 * per 2 MiB instead of one per 4 KiB page of P's whole heap (on a VM whose page
 * faults cost microseconds, most of the forward transfer's map phase).
 * What the future version keeps of it: the heap pages holding the transferred
 * objects may be huge pages, and glibc's dynamic mmap threshold stands where a free
 * of one block of (first step + 1 MiB) puts it, as in any program that freed such
 * a block. Below GROW_MIN, or when glibc does not serve the step from the heap
 * (a non-main arena, a fixed M_MMAP_THRESHOLD), nothing changes. errno is kept. */
#define GROW_STEP ((size_t)30 << 20)
#define GROW_MIN ((size_t)8 << 20)
#define HELD_MAX 64
static size_t grow_left;  /* announced bytes no step has covered yet */
static size_t grow_ahead; /* bytes of the last step the transfer has not used */
static int grow_raised;   /* the threshold raised (once per process) */
/* Steps grown before the transfer allocates (__ttst_transfer_reserve_ahead), each
 * held as one allocated block until a step is needed: freed in address order then,
 * so the blocks after it stay where they are (freed all at once they would merge
 * into glibc's top, which trims anything above its threshold). */
static void *held[HELD_MAX];
static size_t held_size[HELD_MAX];
static int held_count, held_next;

void __ttst_transfer_reserve(size_t bytes) {
  grow_left = bytes >= GROW_MIN ? bytes : 0;
  grow_ahead = 0;
}

static void raise_threshold(size_t step) {
  if (!grow_raised) { /* a block this large is mmapped until one is freed */
    __libc_free(__libc_malloc(step + ((size_t)1 << 20)));
    grow_raised = 1;
  }
}

/* The transfer announces, before it allocates, about how many bytes it will (its
 * source's heap): the heap is grown now for all of it, in steps held as blocks, and
 * [range[0], range[1]) receives the new pages, which the agent's helper thread
 * faults in while the agent computes (a lazily backed VM: hundreds of ms at a
 * million objects). __ttst_transfer_reserve then announces the exact bytes, and each
 * step the allocations need is a held one while any is left. bytes == 0: the
 * transfer's allocations are over; held steps it did not need are freed. errno is
 * kept. Below GROW_MIN, or when glibc does not serve a step from the heap, nothing
 * more is held (range empty when nothing is). */
void __ttst_transfer_reserve_ahead(size_t bytes, uintptr_t range[2]) {
  int saved = errno;
  range[0] = range[1] = 0;
  if (!bytes) {
    while (held_next < held_count) __libc_free(held[held_next++]);
    held_count = held_next = 0;
    errno = saved;
    return;
  }
  if (bytes < GROW_MIN || held_count) {
    errno = saved;
    return;
  }
  raise_threshold(GROW_STEP);
  uintptr_t lo = (uintptr_t)sbrk(0);
  while (bytes && held_count < HELD_MAX) {
    size_t step = bytes < GROW_STEP ? bytes : GROW_STEP;
    uintptr_t before = (uintptr_t)sbrk(0);
    void *b = __libc_malloc(step);
    if (b && (uintptr_t)sbrk(0) <= before) { /* not from the heap: no later step would be */
      __libc_free(b);
      break;
    }
    if (!b) break;
    held[held_count] = b, held_size[held_count++] = step;
    bytes -= step;
  }
  uintptr_t hi = (uintptr_t)sbrk(0);
  lo = (lo + 4095) & ~(uintptr_t)4095;
  if (held_count && hi > lo) {
    madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    range[0] = lo, range[1] = hi;
  }
  errno = saved;
}

static __attribute__((noinline, cold)) void grow_heap(void) {
  int saved = errno;
  if (held_next < held_count) { /* a step grown ahead: its pages are there already */
    size_t step = held_size[held_next];
    __libc_free(held[held_next++]);
    grow_left -= grow_left < step ? grow_left : step;
    grow_ahead = step;
    errno = saved;
    return;
  }
  size_t step = grow_left < GROW_STEP ? grow_left : GROW_STEP;
  grow_left -= step;
  grow_ahead = step;
  raise_threshold(step);
  uintptr_t lo = (uintptr_t)sbrk(0);
  __libc_free(__libc_malloc(step)); /* the heap's top now holds `step` free bytes */
  uintptr_t hi = (uintptr_t)sbrk(0);
  lo = (lo + 4095) & ~(uintptr_t)4095;
  if (hi > lo)
    madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
  else
    grow_left = 0; /* not from the heap: no later step would be */
  errno = saved;
}

static inline void grow_for(size_t chunk) {
  if (chunk > grow_ahead) grow_heap();
  grow_ahead = chunk < grow_ahead ? grow_ahead - chunk : 0;
}

/* For the state transfer only (stfw/xfer, run by the agent inside a future
 * version stopped at its update point; the program never calls these): a zeroed
 * block recorded with the new version's allocation site and, as origin_id, the
 * past version's dyn_id, so the program frees it like any of its own blocks. */
void *__ttst_transfer_alloc(size_t n, uintptr_t site, uint64_t origin_id) {
  if (n > SIZE_MAX - DESC) return NULL;
  if (grow_left) grow_for(CHUNK_OF(n));
  return track(__libc_calloc(1, n + DESC), 0, n, site, TTST_HEAP_F_ZEROED, 0, origin_id);
}

/* A block to cache when the cache is full (drain it all: blocks of a class the
 * program no longer uses never crowd out the others, and each drained block had
 * saved a glibc round trip before), or not started yet, or off. */
static __attribute__((noinline, cold)) void free_slow(struct ttst_heap_desc *d, size_t chunk) {
  if (!cache_start()) {
    __libc_free(d);
    return;
  }
  if (cache_bytes + chunk > CACHE_BYTES) cache_drain();
  cache_put(d, chunk);
}

static inline void do_free(void *p) {
  if (!p) return;
  struct ttst_heap_desc *d = desc_of(p);
  if (!d) { __libc_free(p); return; } /* foreign or double free: glibc decides */
  unlink_desc(d);
  uint64_t size = d->size;
  if (size <= CACHE_MAX_SIZE && d->offset == 0) {
    size_t chunk = CHUNK_OF(size);
    if (__builtin_expect(cache_bytes + chunk <= CACHE_BYTES && cache_state == CACHE_ON, 1))
      cache_put(d, chunk);
    else
      free_slow(d, chunk);
    return;
  }
  __libc_free((char *)d - d->offset);
}

/* The transfer's frees go straight to glibc: nothing of the thread cache's set-up
 * runs inside the agent's call. */
void __ttst_transfer_free(void *p) {
  if (!p) return;
  struct ttst_heap_desc *d = desc_of(p);
  __libc_free(d ? untrack(d) : p);
}

void *malloc(size_t n) { return do_malloc(n, SITE); }

void free(void *p) { do_free(p); }

void cfree(void *p) { do_free(p); }

void *calloc(size_t count, size_t n) {
  size_t total;
  if (__builtin_mul_overflow(count, n, &total) || total > SIZE_MAX - DESC) {
    errno = ENOMEM;
    return NULL;
  }
  if (total <= CACHE_MAX_SIZE) {
    struct ttst_heap_desc *d = cache_take(total);
    if (d) return memset(link_desc(d, 0, total, SITE, TTST_HEAP_F_ZEROED, 0, 0), 0, total);
  }
  return track(__libc_calloc(1, total + DESC), 0, total, SITE, TTST_HEAP_F_ZEROED, 0, 0);
}

static void *do_realloc(void *p, size_t n, uintptr_t site) {
  if (!p) return do_malloc(n, site);
  if (n == 0) { do_free(p); return NULL; } /* glibc's realloc(p, 0) */
  struct ttst_heap_desc *d = desc_of(p);
  if (!d) return __libc_realloc(p, n);     /* foreign: stays foreign */
  if (n > SIZE_MAX - DESC) { errno = ENOMEM; return NULL; }
  uint64_t id = d->dyn_id, origin = d->origin_id;
  uint32_t flags = d->flags & TTST_HEAP_F_ZEROED;
  if (d->offset) { /* padded aligned block: move it (realloc, like glibc's, keeps
                      only malloc's 16-byte alignment) */
    void *q = do_malloc(n, site);
    if (!q) return NULL;
    memcpy(q, p, d->size < n ? d->size : n);
    struct ttst_heap_desc *nd = (struct ttst_heap_desc *)q - 1;
    nd->dyn_id = id; /* same object, new place (only this thread writes nd) */
    nd->origin_id = origin;
    nd->flags |= TTST_HEAP_F_REALLOC | (flags & TTST_HEAP_F_ZEROED);
    do_free(p);
    return q;
  }
  void *base = untrack(d);
  void *nb = __libc_realloc(base, n + DESC);
  if (!nb) { /* the old block is intact: put it back as it was */
    d->magic = TTST_HEAP_LIVE;
    track(base, 0, d->size, d->site, d->flags & 0xffu & ~TTST_HEAP_F_FROM_LIB, id, origin);
    errno = ENOMEM;
    return NULL;
  }
  return track(nb, 0, n, site, flags | TTST_HEAP_F_REALLOC, id, origin);
}

void *realloc(void *p, size_t n) { return do_realloc(p, n, SITE); }

void *reallocarray(void *p, size_t count, size_t n) {
  size_t total;
  if (__builtin_mul_overflow(count, n, &total)) { errno = ENOMEM; return NULL; }
  return do_realloc(p, total, SITE);
}

int posix_memalign(void **out, size_t align, size_t n) {
  if (align % sizeof(void *) || (align & (align - 1)) || !align) return EINVAL;
  int saved = errno;
  void *p = do_memalign(align, n, SITE);
  if (!p) { int e = errno; errno = saved; return e; }
  *out = p;
  return 0;
}

void *aligned_alloc(size_t align, size_t n) { return do_memalign(align, n, SITE); }

void *memalign(size_t align, size_t n) { return do_memalign(align, n, SITE); }

void *valloc(size_t n) { return do_memalign((size_t)sysconf(_SC_PAGESIZE), n, SITE); }

void *pvalloc(size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (n > SIZE_MAX - page) { errno = ENOMEM; return NULL; }
  return do_memalign(page, (n + page - 1) & ~(page - 1), SITE);
}

/* Exactly what was asked for: always a correct answer, and it keeps programs
 * from writing over our descriptors' neighbours. Foreign blocks: 0. */
size_t malloc_usable_size(void *p) {
  struct ttst_heap_desc *d = p ? desc_of(p) : NULL;
  return d ? d->size : 0;
}

char *strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = do_malloc(n, SITE);
  return p ? memcpy(p, s, n) : NULL;
}

char *strndup(const char *s, size_t max) {
  size_t n = strnlen(s, max);
  char *p = do_malloc(n + 1, SITE);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

/* fork: no stripe lock may be held by a thread that does not exist in the child.
 * Unconditional: the child is single-threaded again by the time it releases. */
static void fork_prepare(void) {
  for (unsigned i = 0; i < TTST_HEAP_STRIPES; i++) lock_always(&RT.stripes[i].lock);
}
static void fork_release(void) {
  for (unsigned i = TTST_HEAP_STRIPES; i-- > 0;) unlock_always(&RT.stripes[i].lock);
}

/* ---- update points and future mode --------------------------------------- */

static inline void marker(uint64_t kind, uintptr_t where) {
  long rax = TTST_MARKER_SYSCALL;
  register uint64_t r10 __asm__("r10") = where;
  __asm__ __volatile__("syscall"
                       : "+a"(rax)
                       : "D"(TTST_MARKER_MAGIC), "S"(&__ttst_runtime), "d"(kind), "r"(r10)
                       : "rcx", "r11", "memory");
}

/* True when the supervisor died after the commit point (ttst_abi.h §5): the past
 * version it named is gone, or a zombie, within TTST_PAST_EXIT_WAIT_MS. */
static int past_version_ended(void) {
  pid_t past = (pid_t)RT.past_pid;
  if (past <= 0) return 0;
  char path[32];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)past);
  for (int waited = 0; waited <= TTST_PAST_EXIT_WAIT_MS; waited += 10) {
    char buf[256] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1; /* gone */
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    const char *paren = n > 0 ? strrchr(buf, ')') : NULL;
    if (paren && (paren[2] == 'Z' || paren[2] == 'X')) return 1; /* ended, not yet reaped */
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

__attribute__((noinline, cold)) void __ttst_update_point(void) {
  uintptr_t where = SITE;
  if (RT.updating) {
    marker(TTST_MARKER_FUTURE, where);
    if (RT.updating && past_version_ended()) { /* the supervisor died after the commit point */
      __atomic_store_n(&RT.update_requested, 0, __ATOMIC_RELAXED);
      __atomic_store_n(&RT.updating, 0, __ATOMIC_RELEASE);
      return;
    }
    if (RT.updating) { /* nobody transferred our state: never run half-updated */
      static const char msg[] =
          "ttst: this is a future version started without a live supervisor "
          "(TTST_FUTURE_VERSION set by hand?); exiting\n";
      (void)!write(2, msg, sizeof msg - 1);
      _exit(TTST_EXIT_NO_SUPERVISOR);
    }
    return;
  }
  marker(TTST_MARKER_PAST, where);
  __atomic_store_n(&RT.update_requested, 0, __ATOMIC_RELAXED); /* self-clearing */
}

extern char **environ;

__attribute__((constructor(101))) static void ttst_init(void) {
  RT.exe_text_start = (uintptr_t)__executable_start;
  RT.exe_text_end = (uintptr_t)etext;
  static const char key[] = TTST_FUTURE_ENV "=";
  for (char **e = environ; e && *e; e++) {
    if (strncmp(*e, key, sizeof key - 1) != 0) continue;
    char **w = e;
    do w[0] = w[1]; while (*w++); /* shift the rest down, keep the NULL */
    RT.updating = 1;
    RT.update_requested = 1;
    e--;
  }
  pthread_atfork(fork_prepare, fork_release, fork_release);
  if (pthread_key_create(&cache_key, cache_flush) == 0)
    __atomic_store_n(&cache_key_ok, 1, __ATOMIC_RELEASE);
  /* Our 64-byte descriptor pushes small blocks past glibc's default fastbin limit
   * (128-byte chunks); raise it to glibc's maximum so they stay on the fast path. */
  mallopt(M_MXFAST, 160);
}
