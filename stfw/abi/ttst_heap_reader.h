/* ttst_heap_reader.h — enumerate a ttst program's live heap objects from a bulk
 * copy of its memory, without calling into it (ttst_abi.h §3a).
 *
 * Header-only and freestanding: no libc, no allocation, no globals; the agent,
 * diff and the tests include it. The caller supplies translate(ctx, addr, len):
 * a local pointer to `len` bytes that were at `addr` in the program, or NULL when
 * they are not in the copy. Every link is checked before it is followed, so a
 * corrupted or torn heap yields an error code, never a crash or an endless loop. */
#ifndef TTST_HEAP_READER_H
#define TTST_HEAP_READER_H

#include "ttst_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef const void *(*ttst_translate_fn)(void *ctx, uint64_t addr, uint64_t len);
/* Called once per live object; `addr` is the program's pointer (descriptor + 64).
 * Return nonzero to stop the walk. */
typedef int (*ttst_heap_visit_fn)(void *ctx, uint64_t addr, const struct ttst_heap_desc *d);

enum ttst_heap_walk_error {
  TTST_HEAP_WALK_NO_RUNTIME = -1, /* control block unreadable or wrong magic/ABI */
  TTST_HEAP_WALK_UNMAPPED = -2,   /* a descriptor is not in the copy             */
  TTST_HEAP_WALK_BAD_MAGIC = -3,  /* a listed descriptor is not live             */
  TTST_HEAP_WALK_BAD_LINK = -4,   /* prev/next/stripe/count disagree             */
  TTST_HEAP_WALK_LOCKED = -5,     /* a stripe lock is held: copy not quiescent   */
};

/* Returns the number of live objects visited (all of them unless visit stopped
 * the walk), or a negative ttst_heap_walk_error. `rt_addr` is the run-time
 * address of __ttst_runtime. */
static inline int64_t ttst_heap_walk(uint64_t rt_addr, ttst_translate_fn translate, void *tctx,
                                     ttst_heap_visit_fn visit, void *vctx) {
  const struct ttst_runtime *rt =
      (const struct ttst_runtime *)translate(tctx, rt_addr, sizeof(struct ttst_runtime));
  if (!rt || rt->magic != TTST_RUNTIME_MAGIC || rt->abi_version != TTST_ABI_VERSION ||
      rt->desc_size != sizeof(struct ttst_heap_desc))
    return TTST_HEAP_WALK_NO_RUNTIME;
  int64_t total = 0;
  for (uint32_t s = 0; s < TTST_HEAP_STRIPES; s++) {
    const struct ttst_heap_stripe *st = &rt->stripes[s];
    uint64_t head = rt_addr + __builtin_offsetof(struct ttst_runtime, stripes) +
                    (uint64_t)s * sizeof(struct ttst_heap_stripe);
    if (st->lock) return TTST_HEAP_WALK_LOCKED;
    uint64_t prev = head, cur = (uint64_t)(uintptr_t)st->head.next, n = 0;
    while (cur != head) {
      if (n == st->live) return TTST_HEAP_WALK_BAD_LINK; /* longer than counted */
      const struct ttst_heap_desc *d =
          (const struct ttst_heap_desc *)translate(tctx, cur, sizeof(struct ttst_heap_desc));
      if (!d) return TTST_HEAP_WALK_UNMAPPED;
      if (d->magic != TTST_HEAP_LIVE) return TTST_HEAP_WALK_BAD_MAGIC;
      if ((uint64_t)(uintptr_t)d->prev != prev || TTST_HEAP_STRIPE_OF(d->flags) != s)
        return TTST_HEAP_WALK_BAD_LINK;
      n++;
      total++;
      if (visit && visit(vctx, cur + sizeof(struct ttst_heap_desc), d)) return total;
      prev = cur;
      cur = (uint64_t)(uintptr_t)d->next;
    }
    if (n != st->live || (uint64_t)(uintptr_t)st->head.prev != prev)
      return TTST_HEAP_WALK_BAD_LINK;
  }
  return total;
}

#ifdef __cplusplus
}
#endif

#endif /* TTST_HEAP_READER_H */
