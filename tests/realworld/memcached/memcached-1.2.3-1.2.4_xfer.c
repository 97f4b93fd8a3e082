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
 *  - an item within 8 bytes of its chunk's end no longer fits: place_item moves it
 *    to a never-used chunk at the end of the last page of the next larger class
 *    that has one (slabclass_t.end_page_ptr / end_page_free, which fwd_slabclass
 *    advances; one chunk is always left, so end_page_ptr stays set). The item keeps
 *    its slabs_clsid and LRU list: 1.2.4 frees it by its size (slabs_free), into a
 *    class whose chunks are no larger than the one it sits in. Its old chunk is
 *    left unused (a leak of one chunk per moved item, until the restart).
 * Backward (v2 -> v1, header zeroed by the engine): every item goes back to its
 * 1.2.3 address (its cas_id), the tail 8 bytes down, cas_id dropped, and
 * bwd_slabclass gives each class back the end-of-page chunks the moved items used.
 * The round trip is exact, which time-traveling state transfer checks.
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

#define SLABCLASS "slabs.c::slabclass"
#define MAX_CLASSES 256

/* The source's slab classes, and per class the end-of-page chunks moved items use
 * (filled by place_item in the map phase, read by the slabclass functions after). */
static const slabclass *classes;
static uint64_t class_count;
static uint32_t used[MAX_CLASSES];

static const char *const kShared[] = {"next",     "prev",    "h_next",      "time", "exptime", "nbytes",
                                      "refcount", "nsuffix", "slabs_clsid", "nkey", "it_flags"};

static int shared_members(struct ttst_xfer *x) {
  for (unsigned i = 0; i < sizeof kShared / sizeof kShared[0]; ++i)
    if (ttst_xfer_member(x, kShared[i])) return -1;
  return 0;
}

/* Bytes after the header: key and NUL, suffix, data (ITEM_ntotal - sizeof(item)). */
static uint64_t tail_bytes(uint8_t nkey, uint8_t nsuffix, int32_t nbytes) {
  return (uint64_t)nkey + 1 + nsuffix + (uint64_t)(uint32_t)nbytes;
}

static int load_classes(struct ttst_xfer *x) {
  uint64_t size = 0;
  if (classes) return 0;
  classes = ttst_xfer_source_global(x, SLABCLASS, &size);
  class_count = size / sizeof(slabclass);
  if (!classes || class_count > MAX_CLASSES) return ttst_xfer_fail(x, "no slab class table " SLABCLASS);
  return 0;
}

/* Forward: a chunk at the end of a larger class's last page for an item that no
 * longer fits its own. */
static int place_grown(struct ttst_xfer *x, const item1 *s) {
  uint64_t need = sizeof(item2) + tail_bytes(s->nkey, s->nsuffix, s->nbytes);
  if (need <= ttst_xfer_room(x, 0)) return 0; /* fits in place */
  if (load_classes(x)) return -1;
  for (uint64_t j = (uint64_t)s->slabs_clsid + 1; j < class_count; ++j) {
    const slabclass *c = &classes[j];
    if (c->size < need || !c->end_page_ptr || used[j] + 1 >= c->end_page_free) continue;
    uint64_t at = (uint64_t)(uintptr_t)c->end_page_ptr + (uint64_t)used[j] * c->size;
    used[j]++;
    return ttst_xfer_place_source(x, at, c->size);
  }
  return ttst_xfer_fail(x, "the item grown by cas_id fits no free chunk of a larger slab class");
}

/* Backward: the item goes back to its 1.2.3 address (cas_id); a moved one frees the
 * end-of-page chunk of the class it sat in. */
static int place_back(struct ttst_xfer *x, const item2 *s, const void *in_place) {
  if (s->cas_id == (uint64_t)(uintptr_t)in_place) return 0;
  if (load_classes(x)) return -1;
  if (s->cas_id == 0 || s->slabs_clsid >= class_count) return ttst_xfer_fail(x, "an item 1.2.3 did not have");
  uint64_t here = ttst_xfer_source_address(x);
  for (uint64_t j = (uint64_t)s->slabs_clsid + 1; j < class_count; ++j) {
    const slabclass *c = &classes[j];
    if (!c->slabs || !c->slab_list) continue;
    const uint64_t *last = ttst_xfer_source(x, (uint64_t)(uintptr_t)c->slab_list + 8ull * (c->slabs - 1), 8);
    if (last && here >= *last && here < *last + (uint64_t)c->perslab * c->size) {
      used[j]++;
      return ttst_xfer_place(x, s->cas_id, classes[s->slabs_clsid].size);
    }
  }
  return ttst_xfer_fail(x, "a moved item outside every class's last page");
}

static int place_item(struct ttst_xfer *x, const void *src, void *in_place) {
  return ttst_xfer_forward() ? place_grown(x, src) : place_back(x, src, in_place);
}

static int fwd_item(struct ttst_xfer *x, const void *src, void *dst) {
  const item1 *s = src;
  item2 *d = dst;
  uint64_t src_room, room = ttst_xfer_room(x, &src_room);
  uint64_t tail = tail_bytes(s->nkey, s->nsuffix, s->nbytes);
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
  uint64_t tail = tail_bytes(s->nkey, s->nsuffix, s->nbytes);
  if (sizeof *s + tail > src_room || sizeof *d + tail > room) return ttst_xfer_fail(x, "an item longer than its chunk");
  if (shared_members(x)) return -1;
  ttst_xfer_copy((uint8_t *)d + sizeof *d, (const uint8_t *)s + sizeof *s, tail);
  return 0;
}

/* The classes as they were, then the end-of-page chunks moved items took (forward)
 * or give back (backward). */
static int slabclass_both(struct ttst_xfer *x, void *dst, int64_t sign) {
  slabclass *d = dst;
  if (ttst_xfer_whole(x)) return -1;
  for (uint64_t j = 0; j < class_count && j < MAX_CLASSES; ++j) {
    if (!used[j]) continue;
    d[j].end_page_ptr = (uint8_t *)d[j].end_page_ptr + sign * (int64_t)used[j] * d[j].size;
    d[j].end_page_free -= (uint32_t)(sign * (int64_t)used[j]);
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
