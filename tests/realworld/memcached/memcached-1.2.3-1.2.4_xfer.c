/* memcached-1.2.3-1.2.4_xfer.c — the transfer plugin for memcached 1.2.3 -> 1.2.4
 * (stfw/xfer/PLUGINS.md). 1.2.4's item header gains `uint64_t cas_id` before its
 * flexible tail (`void *end[]`: key, suffix, data), so every item grows by 8 bytes.
 * Items are carved in 1 MB slab pages (TTST_SLAB_N in tests/realworld/build_release.sh),
 * each in a chunk of its slab class's size; the classes' sizes and the pages carry
 * over from 1.2.3 (slabclass is state), so 1.2.4 runs on 1.2.3's geometry.
 *
 * Forward (v1 -> v2):
 *  - an item that still fits its chunk with 8 more bytes is rewritten in place: the
 *    shared members by the automatic transfer (pointers translated), cas_id = its
 *    address in 1.2.3 (unique, non-zero, never reached by 1.2.4's counter, which
 *    starts at 1: `gets` / `cas` work on carried-over items), the tail 8 bytes up;
 *  - an item within 8 bytes of its chunk's end no longer fits: place_item
 *    (TTST_XFER_TYPE_PLACE) moves it to a free chunk of the next larger class that
 *    has one: a never-used chunk at the end of its last page (end_page_ptr /
 *    end_page_free advanced; one chunk is always left, so end_page_ptr stays set),
 *    else the top of its free list (slots[sl_curr - 1], sl_curr decremented);
 *    fwd_slabclass writes those counts into slabclass. The item keeps
 *    its slabs_clsid and LRU list: 1.2.4 frees it by its size (slabs_free), into a
 *    class whose chunks are no larger than the one it sits in. Its old chunk is
 *    left unused (a leak of one chunk per moved item, until the restart).
 * Backward (v2 -> v1, header zeroed by the engine): every item goes back to its
 * 1.2.3 address (its cas_id), the tail 8 bytes down, cas_id dropped, and
 * bwd_slabclass gives each class back the chunks the moved items used (the free
 * list's share counted from 1.2.4's slots past sl_curr, which still hold them).
 * The round trip is exact, which time-traveling state transfer checks (XFER_LOSSY:
 * the harness's variant whose backward run keeps the chunks, which must roll back).
 *
 * Built by the harness (tests/realworld/harness/memcached124_checks.py):
 *   ttst-meta xfer-skeleton V1 V2 --out DIR --header-only   (DIR/ttst_xfer_types.h)
 *   ttst-cc --xfer-plugin -I DIR -o DIR/xfer.plugin memcached-1.2.3-1.2.4_xfer.c */
#include "ttst_xfer_types.h"

typedef v1_struct__stritem item1;
typedef v2_struct__stritem item2;
typedef v1_slabclass_t slabclass; /* the same layout in both versions: */
_Static_assert(sizeof(v1_slabclass_t) == sizeof(v2_slabclass_t), "slabclass_t changed");
_Static_assert(__builtin_offsetof(v2_slabclass_t, end_page_ptr) == __builtin_offsetof(slabclass, end_page_ptr) &&
                   __builtin_offsetof(v2_slabclass_t, slab_list) == __builtin_offsetof(slabclass, slab_list),
               "slabclass_t changed");
_Static_assert(__builtin_offsetof(item1, nbytes) == __builtin_offsetof(item2, nbytes) &&
                   __builtin_offsetof(item1, nsuffix) == __builtin_offsetof(item2, nsuffix) &&
                   __builtin_offsetof(item1, nkey) == __builtin_offsetof(item2, nkey),
               "item's length members moved");

#define SLABCLASS "slabs.c::slabclass"
#define MAX_CLASSES 256

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
  static const char *const names[] = {"next",     "prev",    "h_next",      "time", "exptime", "nbytes",
                                      "refcount", "nsuffix", "slabs_clsid", "nkey", "it_flags"};
  for (unsigned i = 0; i < sizeof names / sizeof names[0]; ++i)
    if (ttst_xfer_member(x, names[i])) return -1;
  return 0;
}

/* Bytes after the header: key and NUL, suffix, data (ITEM_ntotal - sizeof(item)). */
static uint64_t tail_bytes(const void *it) {
  const item1 *i = it; /* nkey, nsuffix, nbytes: the same offsets in both versions */
  return (uint64_t)i->nkey + 1 + i->nsuffix + (uint64_t)(uint32_t)i->nbytes;
}

static int load_classes(struct ttst_xfer *x) {
  uint64_t size = 0;
  if (classes) return 0;
  classes = ttst_xfer_source_global(x, SLABCLASS, &size);
  class_count = size / sizeof(slabclass);
  if (!classes || class_count > MAX_CLASSES) return ttst_xfer_fail(x, "no slab class table " SLABCLASS);
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
  uint64_t need = sizeof(item2) + tail_bytes(s);
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

/* Backward: back to its v1 address (kept in cas_id); a moved one is noted with the
 * class whose page it sat in. */
static int place_back(struct ttst_xfer *x, const item2 *s, const void *in_place) {
  if (s->cas_id == (uint64_t)(uintptr_t)in_place) return 0;
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
      return ttst_xfer_place(x, s->cas_id, classes[s->slabs_clsid].size);
    }
  return ttst_xfer_fail(x, "a moved item outside every larger class's pages");
}

static int place_item(struct ttst_xfer *x, const void *src, void *in_place) {
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
  uint64_t src_room, room = ttst_xfer_room(x, &src_room);
  uint64_t tail = tail_bytes(s);
  if (sizeof *s + tail > src_room || sizeof *d + tail > room) return ttst_xfer_fail(x, "an item longer than its chunk");
  if (shared_members(x)) return -1;
  d->cas_id = ttst_xfer_source_address(x);
  ttst_xfer_copy((uint8_t *)d + sizeof *d, (const uint8_t *)s + sizeof *s, tail);
  return 0;
}

static int bwd_item(struct ttst_xfer *x, const void *src, void *dst) {
  const item2 *s = src;
  item1 *d = dst;
  uint64_t src_room, room = ttst_xfer_room(x, &src_room);
  uint64_t tail = tail_bytes(s);
  if (sizeof *s + tail > src_room || sizeof *d + tail > room) return ttst_xfer_fail(x, "an item longer than its chunk");
  if (shared_members(x)) return -1;
  ttst_xfer_copy((uint8_t *)d + sizeof *d, (const uint8_t *)s + sizeof *s, tail);
  return 0;
}

/* The classes as they were, then the chunks moved items took (forward) or give
 * back (backward): from the free list's top and from the end of the last page. */
static int slabclass_both(struct ttst_xfer *x, void *dst, int64_t sign) {
  slabclass *d = dst;
  if (ttst_xfer_whole(x)) return -1;
  for (uint64_t j = 0; j < class_count; ++j) {
#ifdef XFER_LOSSY /* the harness's variant: the chunks not given back (time travel must see it) */
    if (sign < 0) continue;
#endif
    if (sign < 0) count_back(x, j);
    d[j].sl_curr -= (uint32_t)(sign * (int64_t)popped[j]);
    d[j].end_page_ptr = (uint8_t *)d[j].end_page_ptr + sign * (int64_t)from_end[j] * d[j].size;
    d[j].end_page_free -= (uint32_t)(sign * (int64_t)from_end[j]);
  }
  return 0;
}

static int fwd_slabclass(struct ttst_xfer *x, const void *src, void *dst) {
  (void)src;
  return slabclass_both(x, dst, 1);
}

static int bwd_slabclass(struct ttst_xfer *x, const void *src, void *dst) {
  (void)src;
  return slabclass_both(x, dst, -1);
}

TTST_XFER_PLUGIN(
    TTST_XFER_TYPE_PLACE("item", place_item),
    TTST_XFER_TYPE_FORWARD("item", fwd_item),
    TTST_XFER_TYPE_BACKWARD("item", bwd_item),
    TTST_XFER_GLOBAL_FORWARD(SLABCLASS, fwd_slabclass),
    TTST_XFER_GLOBAL_BACKWARD(SLABCLASS, bwd_slabclass))
