/* cachepool — memcached 1.6's object caches (cache.c's cache_t) in small
 * (stfw/tests/carve_xfer_test.cc): objects of one size, each malloc'd on its own
 * from one site inside an allocator that returns void * (so the site types
 * nothing), free ones kept on a list linked through their first bytes as
 * `struct cache_free_s` (whose only member is a struct holding the next pointer,
 * as STAILQ_ENTRY is). A free object is larger than that link struct, and the rest
 * of its bytes are what its last user left: an integer that lies in no mapping and
 * pointers to live objects and to a global. BUILD declares the list
 * (TTST_ANNOTATIONS="FREE_LIST(cache_t.head, c_next)"): every free object is free
 * as a whole, its stale words neither type a live object as a list element nor
 * count as evidence that the link member holds integers. A second list, a shelf
 * of spare objects held by a `void *` (as memcached 1.6's slabclass_t.slots) and
 * linked by `peer`, is declared by POINTS_TO and FREE_LIST on that `void *`: its
 * objects keep a dangling pointer (to a freed block), a dead value carried as it is
 * (a live object's would be refused). After the update, v2 takes objects from the
 * transferred lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

struct cache_free_s {
  struct {
    struct cache_free_s *next;
  } c_next;
};
typedef struct {
  struct cache_free_s *head; /* the free list */
  size_t bufsize;
  int freecurr;
} cache_t;

struct buf { /* what the program keeps in the cache's objects: 64 bytes */
  struct buf *self;
  long value;
  struct buf *peer;
  long *counter;
  char label[32];
};

cache_t *cache;
struct shelf {
  void *slots; /* spare struct bufs linked by peer */
  int count;
} shelf;
struct buf *live[4];
long counter;
#ifdef V2
long taken_by_v2; /* v2 adds a global */
#endif

__attribute__((noinline)) static void *cache_alloc(cache_t *c) {
  if (c->head) {
    struct cache_free_s *o = c->head;
    c->head = o->c_next.next, c->freecurr--;
    return o;
  }
  return malloc(c->bufsize);
}

__attribute__((noinline)) static void cache_free(cache_t *c, void *p) {
  struct cache_free_s *o = p;
  o->c_next.next = c->head, c->head = o, c->freecurr++;
}

/* This process's own start-up answer to "was my state just transferred in?",
 * never the old version's: a local set before the loop is state the transfer
 * carries (the old version's 0) whenever the old version's frame holds it. */
static int transferred;
TTST_NO_TRANSFER(transferred);

int main(void) {
  transferred = ttst_is_updating();
  if (!transferred) {
    cache = calloc(1, sizeof *cache);
    cache->bufsize = sizeof(struct buf);
    struct buf *all[8];
    for (int i = 0; i < 8; i++) {
      all[i] = cache_alloc(cache);
      all[i]->self = all[i], all[i]->value = 10 * i, all[i]->counter = &counter;
      snprintf(all[i]->label, sizeof all[i]->label, "b%d", i);
    }
    for (int i = 0; i < 8; i++) all[i]->peer = all[(i + 1) % 8];
    for (int i = 0; i < 4; i++) live[i] = all[2 * i], live[i]->peer = all[(2 * i + 2) % 8];
    for (int i = 0; i < 4; i++) { /* the odd ones freed: their peer (+16) points to a live one */
      all[2 * i + 1]->value = 0x500000000L;  /* +8: an integer in no mapping (a stale count) */
      all[2 * i + 1]->peer = live[(i + 1) % 4];
      cache_free(cache, all[2 * i + 1]);
    }
    long *gone = malloc(sizeof *gone); /* the spares' counter: freed, dangling */
    for (int i = 0; i < 2; i++) {
      struct buf *s = malloc(sizeof *s);
      s->self = s, s->value = 0, s->counter = gone, s->peer = shelf.slots;
      snprintf(s->label, sizeof s->label, "s%d", i);
      shelf.slots = s, shelf.count++;
    }
    free(gone);
    counter = 7;
    printf("ready\n");
    fflush(stdout);
  }
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      long sum = 0;
      int linked = 0, free_before = cache->freecurr;
      for (int i = 0; i < 4; i++)
        sum += live[i]->value, linked += live[i]->self == live[i] && live[i]->peer == live[(i + 1) % 4];
      struct buf *b = cache_alloc(cache); /* from the transferred free list */
      int reused = 0;
      for (int i = 0; i < 4; i++) reused += (void *)b != (void *)live[i];
      b->self = b, b->value = 1;
#ifdef V2
      taken_by_v2++;
#endif
      struct buf *s1 = shelf.slots, *s0 = s1 ? s1->peer : 0;
      printf("live:%s,%s,%s,%s sum:%ld linked:%d free:%d reused:%d left:%d counter:%ld shelf:%d,%s,%s\n",
             live[0]->label, live[1]->label, live[2]->label, live[3]->label, sum, linked, free_before, reused == 4,
             cache->freecurr, *live[0]->counter, shelf.count, s1 ? s1->label : "-", s0 ? s0->label : "-");
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
