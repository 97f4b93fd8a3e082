/* kvserver_v3_xfer.c — the transfer plugin for kvserver v2 -> v3 (stfw/xfer/PLUGINS.md),
 * written from the skeleton `ttst-meta xfer-skeleton kvserver_v2 kvserver_v3` made.
 * v3 keeps an entry's value and its length in one separately allocated blob
 * (struct blob { size_t len; char bytes[]; }) where v2 had a string and `vlen`,
 * and its hash table has twice the buckets. Forward (in F): each v2 string becomes
 * a v3 blob standing for it, and the chains are rehashed into a new bucket array
 * of twice the size. Backward (in R): each blob goes back into R's string and
 * `vlen`, and the chains are rebuilt in v2's order: v2 appends new entries to their
 * chain, so a chain is in the order of `created` (which v3 dropped: R keeps it).
 * The hash function is v3's (and v2's): a changed hash function is the plugin's
 * to know, the plan cannot see it. Types: ttst_xfer_types.h (v1_ = kvserver v2,
 * v2_ = kvserver v3), generated at build time.
 * Test variants (-D): KV_XFER_LOSSY (the backward function forgets the LRU back
 * link `lru_prev`: the round trip differs, in the global sentinel too),
 * KV_XFER_CRASH (the forward function writes through a NULL pointer),
 * KV_XFER_FORWARD_ONLY (no backward functions: entries go unvalidated),
 * KV_XFER_BAD_TARGET (a function registered for a type v2 does not have),
 * KV_XFER_HANG (the backward table function never ends). */
#include "ttst_xfer_types.h"

/* v3's hash of the source's key at `key` (FNV-1a, as kvserver.c's hash_key). */
static uint64_t key_hash(struct ttst_xfer *x, const void *key) {
  uint64_t h = 1469598103934665603ull;
  for (uintptr_t p = (uintptr_t)key;; ++p) {
    const unsigned char *c = ttst_xfer_source(x, p, 1);
    if (!c || !*c) return h;
    h = (h ^ *c) * 1099511628211ull;
  }
}

/* The members both versions share, by the automatic transfer (hnext: the table's). */
static int shared_members(struct ttst_xfer *x) {
  static const char *const names[] = {"key", "hits", "lru_prev", "lru_next"};
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
#ifdef KV_XFER_FAILING
  return ttst_xfer_fail(x, "refused on purpose"); /* the plugin's own refusal */
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

/* v2 table -> v3 table of twice the buckets: every chain rehashed, in order. */
static int fwd_table(struct ttst_xfer *x, const void *src, void *dst) {
  const v1_struct_table *s = src;
  v2_struct_table *d = dst;
  uint64_t n = s->nbuckets, m = 2 * n;
  const uint64_t *old = ttst_xfer_source(x, s->buckets, n * sizeof(uint64_t));
#ifdef KV_XFER_GREEDY
  m = (uint64_t)1 << 46; /* the bug: a size no allocator can give */
#endif
  v2_struct_entry **b = ttst_xfer_new_owned(x, s->buckets, m * sizeof *b);
  v2_struct_entry **tail = ttst_xfer_scratch(x, m * sizeof *tail);
  if (!old || !b || !tail) return ttst_xfer_fail(x, "the bucket arrays");
  for (uint64_t i = 0; i < m; ++i) tail[i] = 0;
  for (uint64_t i = 0; i < n; ++i)
    for (uint64_t e = old[i]; e;) {
      const v1_struct_entry *se = ttst_xfer_source(x, e, sizeof *se);
      v2_struct_entry *de = ttst_xfer_ptr(x, e);
      if (!se || !de) return -1;
      uint64_t h = key_hash(x, se->key) % m;
      de->hnext = 0;
      if (tail[h]) tail[h]->hnext = de;
      else b[h] = de;
      tail[h] = de;
      e = (uintptr_t)se->hnext;
    }
  d->buckets = b;
  d->nbuckets = (uint32_t)m;
  d->count = s->count;
  return 0;
}

#ifndef KV_XFER_FORWARD_ONLY
/* v3 entry -> v2 entry (R's, zeroed): the blob back into R's string and vlen. */
static int bwd_struct_entry(struct ttst_xfer *x, const void *src, void *dst) {
  const v2_struct_entry *s = src;
  v1_struct_entry *d = dst;
  if (shared_members(x)) return -1;
  if (ttst_xfer_keep(x, "created")) return -1; /* v3 dropped it: kept, not validated */
  if (ttst_xfer_keep(x, "hnext")) return -1;   /* written by bwd_table, in R itself */
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

/* v3 table -> v2 table: half the buckets, each chain in `created` order. */
static int bwd_table(struct ttst_xfer *x, const void *src, void *dst) {
  const v2_struct_table *s = src;
  v1_struct_table *d = dst;
#ifdef KV_XFER_HANG
  for (volatile int spin = 1; spin;) /* the bug: a loop that never ends */
    ;
#endif
  uint64_t m = s->nbuckets, n = m / 2, room = 0;
  const uint64_t *now = ttst_xfer_source(x, s->buckets, m * sizeof(uint64_t));
  v1_struct_entry **b = ttst_xfer_owned(x, s->buckets, &room);
  if (!now || !b || room < n * sizeof *b) return ttst_xfer_fail(x, "the bucket arrays");
  for (uint64_t j = 0; j < m; ++j)
    for (uint64_t e = now[j]; e;) {
      const v2_struct_entry *se = ttst_xfer_source(x, e, sizeof *se);
      v1_struct_entry *re = ttst_xfer_ptr(x, e); /* R's entry: its `created` is R's own */
      if (!se || !re) return -1;
      v1_struct_entry **at = &b[key_hash(x, se->key) % n];
      while (*at && (*at)->created < re->created) at = &(*at)->hnext;
      re->hnext = *at;
      *at = re;
      e = (uintptr_t)se->hnext;
    }
  d->buckets = b;
  d->nbuckets = n;
  d->count = s->count;
  return ttst_xfer_keep(x, "lookups"); /* v3 dropped it */
}
#endif

TTST_XFER_PLUGIN(
#ifdef KV_XFER_BAD_TARGET
    TTST_XFER_TYPE_FORWARD("struct nosuch", fwd_struct_entry),
#endif
    TTST_XFER_TYPE_FORWARD("struct entry", fwd_struct_entry),
    TTST_XFER_GLOBAL_FORWARD("table", fwd_table),
#ifndef KV_XFER_FORWARD_ONLY
    TTST_XFER_TYPE_BACKWARD("struct entry", bwd_struct_entry),
    TTST_XFER_GLOBAL_BACKWARD("table", bwd_table),
#endif
    TTST_XFER_OWNS("struct entry.value"),
    TTST_XFER_OWNS("struct table.buckets"))
