/* carve_cas_xfer.c — the transfer plugin for carve_v1 -> carve_v2_cas
 * (supervisor/xfer_place_test.cc): v2's item grows
 * a `cas` field before its flexible tail (key, value), as memcached 1.2.4's did.
 * Each item is rewritten in its chunk (tail 8 bytes up); one whose 8 more bytes no
 * longer fit its chunk is placed (TTST_XFER_TYPE_PLACE) in a never-used chunk at
 * the end of the last page of a larger class, and the class's end_page_ptr /
 * end_page_free advance past it (fwd_slabclass). Backward, each item goes back to
 * its v1 address (kept in `cas`) and the classes get their chunks back.
 * NO_PLACE: without the place function (the update must roll back: an item does
 * not fit). LOSSY_CLASSES: the backward slabclass function forgets to give the
 * chunks back (the diff must name slabclass). The memcached 1.2.3 -> 1.2.4 plugin
 * (tests/realworld/memcached/) is the same with memcached's item members. */
#include "ttst_xfer_types.h"

typedef v1_struct__stritem item1;
typedef v2_struct__stritem item2;
typedef v1_slabclass_t slabclass;
_Static_assert(sizeof(v1_slabclass_t) == sizeof(v2_slabclass_t), "slabclass_t changed");

#define SLABCLASS "carve.c::slabclass"
#define MAX_CLASSES 16

static const slabclass *classes;
static uint64_t class_count;
/* Per class: chunks moved items took from its free list (popped from the top) and
 * from the never-used end of its last page. */
static uint32_t popped[MAX_CLASSES], from_end[MAX_CLASSES];
/* Backward: the moved items met (their address in the source and the class of the
 * chunk they sat in), to count what each class gets back. */
static struct moved {
  uint64_t addr, cls;
} *moved;
static uint64_t moved_count, moved_capacity;

static int shared_members(struct ttst_xfer *x) {
  static const char *const names[] = {"next", "prev", "h_next", "nbytes", "slabs_clsid", "nkey"};
  for (unsigned i = 0; i < sizeof names / sizeof names[0]; ++i)
    if (ttst_xfer_member(x, names[i])) return -1;
  return 0;
}

static uint64_t tail_bytes(uint8_t nkey, int32_t nbytes) { return (uint64_t)nkey + 1 + (uint64_t)(uint32_t)nbytes; }

static int load_classes(struct ttst_xfer *x) {
  uint64_t size = 0;
  if (classes) return 0;
  classes = ttst_xfer_source_global(x, SLABCLASS, &size);
  class_count = size / sizeof(slabclass);
  if (!classes || class_count > MAX_CLASSES) return ttst_xfer_fail(x, "no slab class table");
  return 0;
}

static uint64_t source_word(struct ttst_xfer *x, const void *array, uint64_t index) {
  const uint64_t *w = ttst_xfer_source(x, (uint64_t)(uintptr_t)array + 8 * index, 8);
  return w ? *w : 0;
}

/* Forward: a free chunk of a larger class for an item that no longer fits its own:
 * a never-used one at the end of its last page (one always left), else the top of
 * its free list. Never-used chunks first: a freed chunk may still be where a stale
 * pointer points (a closed connection's ritem), and the item put there would catch
 * it: the backward run then refuses the update (safe, but no update). */
static int place_grown(struct ttst_xfer *x, const item1 *s) {
  uint64_t need = sizeof(item2) + tail_bytes(s->nkey, s->nbytes);
  if (need <= ttst_xfer_room(x, 0)) return 0;
  for (uint64_t j = (uint64_t)s->slabs_clsid + 1; j < class_count; ++j) {
    const slabclass *c = &classes[j];
    if (c->size < need) continue;
    if (c->end_page_ptr && from_end[j] + 1 < c->end_page_free)
      return ttst_xfer_place_source(x, (uint64_t)(uintptr_t)c->end_page_ptr + (uint64_t)from_end[j]++ * c->size, c->size);
    if (popped[j] < c->sl_curr) return ttst_xfer_place_source(x, source_word(x, c->slots, c->sl_curr - 1 - popped[j]++), c->size);
  }
  return ttst_xfer_fail(x, "no free chunk of a larger class for the grown item");
}

/* Backward: back to its v1 address (kept in cas); a moved one is noted with the
 * class whose page it sat in. */
static int place_back(struct ttst_xfer *x, const item2 *s, const void *in_place) {
  if (s->cas == (uint64_t)(uintptr_t)in_place) return 0;
  uint64_t here = ttst_xfer_source_address(x);
  for (uint64_t j = (uint64_t)s->slabs_clsid + 1; j < class_count; ++j)
    for (uint64_t p = 0; p < classes[j].slabs; ++p) {
      uint64_t page = source_word(x, classes[j].slab_list, p);
      if (here < page || here >= page + (uint64_t)classes[j].perslab * classes[j].size) continue;
      if (moved_count == moved_capacity) {
        struct moved *more = ttst_xfer_scratch(x, (moved_capacity * 2 + 64) * sizeof *more);
        if (!more) return ttst_xfer_fail(x, "no scratch memory");
        ttst_xfer_copy(more, moved, moved_count * sizeof *more);
        moved = more, moved_capacity = moved_capacity * 2 + 64;
      }
      moved[moved_count++] = (struct moved){here, j};
      return ttst_xfer_place(x, s->cas, classes[s->slabs_clsid].size);
    }
  return ttst_xfer_fail(x, "a moved item outside every larger class's pages");
}

__attribute__((unused)) static int place_item(struct ttst_xfer *x, const void *src, void *in_place) {
  if (load_classes(x)) return -1;
  return ttst_xfer_forward() ? place_grown(x, src) : place_back(x, src, in_place);
}

/* Backward: how many of class j's moved items came from its free list: F's slots
 * past sl_curr still hold the chunks popped for them, in order. */
static void count_back(struct ttst_xfer *x, uint64_t j) {
  uint64_t total = 0;
  for (uint64_t m = 0; m < moved_count; ++m) total += moved[m].cls == j;
  const slabclass *c = &classes[j];
  for (uint64_t k = c->sl_curr; k < c->sl_total && popped[j] < total; ++k) {
    uint64_t chunk = source_word(x, c->slots, k), hit = 0;
    for (uint64_t m = 0; m < moved_count && !hit; ++m) hit = moved[m].cls == j && moved[m].addr == chunk;
    if (!hit) break;
    popped[j]++;
  }
  from_end[j] = (uint32_t)(total - popped[j]);
}

static int fwd_item(struct ttst_xfer *x, const void *src, void *dst) {
  const item1 *s = src;
  item2 *d = dst;
  uint64_t tail = tail_bytes(s->nkey, s->nbytes);
  if (sizeof *d + tail > ttst_xfer_room(x, 0)) return ttst_xfer_fail(x, "the grown item does not fit its chunk");
  if (shared_members(x)) return -1;
  d->cas = ttst_xfer_source_address(x);
  ttst_xfer_copy((uint8_t *)d + sizeof *d, (const uint8_t *)s + sizeof *s, tail);
  return 0;
}

static int bwd_item(struct ttst_xfer *x, const void *src, void *dst) {
  const item2 *s = src;
  item1 *d = dst;
  uint64_t tail = tail_bytes(s->nkey, s->nbytes);
  if (sizeof *d + tail > ttst_xfer_room(x, 0)) return ttst_xfer_fail(x, "the item does not fit its chunk");
  if (shared_members(x)) return -1;
  ttst_xfer_copy((uint8_t *)d + sizeof *d, (const uint8_t *)s + sizeof *s, tail);
  return 0;
}

static int slabclass_both(struct ttst_xfer *x, void *dst, int64_t sign) {
  slabclass *d = dst;
  if (ttst_xfer_whole(x)) return -1;
#ifdef LOSSY_CLASSES
  if (sign < 0) return 0;
#endif
  for (uint64_t j = 0; j < class_count; ++j) {
    if (sign < 0) count_back(x, j);
    d[j].sl_curr -= (uint32_t)(sign * (int64_t)popped[j]);
    d[j].end_page_ptr = (uint8_t *)d[j].end_page_ptr + sign * (int64_t)from_end[j] * d[j].size;
    d[j].end_page_free -= (uint32_t)(sign * (int64_t)from_end[j]);
  }
  return 0;
}

static int fwd_slabclass(struct ttst_xfer *x, const void *src, void *dst) { return (void)src, slabclass_both(x, dst, 1); }
static int bwd_slabclass(struct ttst_xfer *x, const void *src, void *dst) { return (void)src, slabclass_both(x, dst, -1); }

TTST_XFER_PLUGIN(
#ifndef NO_PLACE
    TTST_XFER_TYPE_PLACE("item", place_item),
#endif
    TTST_XFER_TYPE_FORWARD("item", fwd_item),
    TTST_XFER_TYPE_BACKWARD("item", bwd_item),
    TTST_XFER_GLOBAL_FORWARD(SLABCLASS, fwd_slabclass),
    TTST_XFER_GLOBAL_BACKWARD(SLABCLASS, bwd_slabclass))
