/* kvserver_v3_xfer.c — the transfer plugin for kvserver v2 -> v3 (stfw/xfer/PLUGINS.md),
 * written from the skeleton `ttst-meta xfer-skeleton kvserver_v2 kvserver_v3` made:
 * v3 keeps an entry's value and its length in one separately allocated blob
 * (struct blob { size_t len; char bytes[]; }) where v2 had a string and `vlen`.
 * Forward (in F): each v2 string becomes a v3 blob standing for it; backward (in R):
 * each blob is written back into R's string and `vlen`. Types: ttst_xfer_types.h
 * (v1_ = kvserver v2, v2_ = kvserver v3), generated at build time.
 * Test variants (-D): KV_XFER_LOSSY (the backward function forgets the LRU back
 * link `lru_prev`: the round trip differs, in the global sentinel too), KV_XFER_CRASH (the forward function writes through a NULL
 * pointer), KV_XFER_FORWARD_ONLY (no backward function: entries go unvalidated). */
#include "ttst_xfer_types.h"

/* The members both versions share, by the automatic transfer. */
static int shared_members(struct ttst_xfer *x) {
  static const char *const names[] = {"key", "hits", "hnext", "lru_prev", "lru_next"};
  for (unsigned i = 0; i < sizeof names / sizeof names[0]; ++i) {
#ifdef KV_XFER_LOSSY
    if (!ttst_xfer_forward() && names[i][4] == 'p') continue; /* the bug: lru_prev not written back */
#endif
    if (ttst_xfer_member(x, names[i])) return -1;
  }
  return 0;
}

/* v2 entry -> v3 entry: the string and vlen become one blob. */
static int fwd_struct_entry(struct ttst_xfer *x, const void *src, void *dst) {
  const v1_struct_entry *s = src;
  v2_struct_entry *d = dst;
#ifdef KV_XFER_CRASH
  *(volatile int *)0 = 1; /* the bug: a wild write */
#endif
  if (shared_members(x)) return -1;
  d->value = 0;
  if (!s->value) return 0;
  uint64_t n = s->vlen;
  const char *bytes = ttst_xfer_source(x, s->value, n + 1);
  if (!bytes || bytes[n] != 0) return ttst_xfer_fail(x, "the value string is unreadable or not vlen long");
  v2_struct_blob *b = ttst_xfer_new_owned(x, s->value, sizeof(v2_struct_blob) + n + 1);
  if (!b) return -1;
  b->len = n;
  ttst_xfer_copy(b->bytes, bytes, n + 1);
  d->value = b;
  return 0;
}

#ifndef KV_XFER_FORWARD_ONLY
/* v3 entry -> v2 entry (R's, zeroed): the blob back into R's string and vlen. */
static int bwd_struct_entry(struct ttst_xfer *x, const void *src, void *dst) {
  const v2_struct_entry *s = src;
  v1_struct_entry *d = dst;
  if (shared_members(x)) return -1;
  if (ttst_xfer_keep(x, "created")) return -1; /* v3 dropped it: kept, not validated */
  d->value = 0, d->vlen = 0;
  if (!s->value) return 0;
  const v2_struct_blob *b = ttst_xfer_source(x, s->value, sizeof *b);
  if (!b) return ttst_xfer_fail(x, "the blob is unreadable");
  uint64_t n = b->len, room = 0;
  const char *bytes = ttst_xfer_source(x, (uintptr_t)s->value + sizeof *b, n + 1);
  char *str = ttst_xfer_owned(x, s->value, &room);
  if (!bytes || !str) return -1;
  if (n + 1 > room) return ttst_xfer_fail(x, "the value grew past the old version's string");
  ttst_xfer_copy(str, bytes, n + 1);
  d->value = str;
  d->vlen = n;
  return 0;
}
#endif

TTST_XFER_PLUGIN(
    TTST_XFER_TYPE_FORWARD("struct entry", fwd_struct_entry),
#ifndef KV_XFER_FORWARD_ONLY
    TTST_XFER_TYPE_BACKWARD("struct entry", bwd_struct_entry),
#endif
    TTST_XFER_OWNS("struct entry.value"))
