/* poolchain — pools found one typing pass at a time (stfw/tests/carve_xfer_test.cc):
 * LEVELS objects, each allocated in its own pool's block right after the pool's
 * header (as nginx allocates its cycle in the cycle's pool) and holding a pointer
 * to that pool and to the next level's object. The global `top` points into the
 * first block, past its header: an interior pointer into an untyped block, which
 * types nothing but declares the pool its object points to (the by-type container
 * pool_t); the next typing pass carves the object and so finds the next level's
 * interior pointer. A chain of LEVELS pools takes LEVELS + 1 typing passes.
 * BUILD declares the pools by type (TTST_ANNOTATIONS, no source change). After the
 * update the new version walks the chain and prints its length and labels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

#ifndef LEVELS
#define LEVELS 20
#endif

typedef struct pool_s {
  char *last, *end;
  struct pool_s *next;
  long failed;
} pool_t;

struct level {
  pool_t *pool;        /* its own pool: the block it lies in */
  struct level *next;  /* the next level, inside its own pool's block */
  long depth;
  char label[16];
};

/* An array of records that point to the first pool, and a pointer to its second
 * record: an interior pointer into a block that is no container, whose record's
 * pool (already a container) it finds again in every pass; counted once, else the
 * passes would never end (nginx: a read event's data into the connection array). */
struct holder {
  pool_t *pool;
  long n;
};

struct level *top; /* into the first pool's block, past its header */
struct holder *holders, *second_holder;
#ifdef V2
long walked_by_v2; /* v2 adds a global */
#endif

static struct level *level_in_new_pool(long depth) {
  pool_t *p = malloc(256);
  p->last = (char *)(p + 1), p->end = (char *)p + 256, p->next = 0, p->failed = 0;
  struct level *l = (struct level *)p->last;
  p->last += sizeof *l;
  l->pool = p, l->next = 0, l->depth = depth;
  snprintf(l->label, sizeof l->label, "level%ld", depth);
  return l;
}

/* This process's own start-up answer to "was my state just transferred in?",
 * never the old version's: a local set before the loop is state the transfer
 * carries (the old version's 0) whenever the old version's frame holds it. */
static int transferred;
TTST_NO_TRANSFER(transferred);

int main(void) {
  transferred = ttst_is_updating();
  if (!transferred) {
    top = level_in_new_pool(0);
    struct level *l = top;
    for (long d = 1; d < LEVELS; d++) l = l->next = level_in_new_pool(d);
    holders = malloc(4 * sizeof *holders);
    for (long k = 0; k < 4; k++) holders[k].pool = top->pool, holders[k].n = k;
    second_holder = &holders[1];
    printf("ready\n");
    fflush(stdout);
  }
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      long count = 0, sum = 0, own = 0;
      const char *last = "";
      for (struct level *l = top; l; l = l->next) {
        count++, sum += l->depth, last = l->label;
        own += (char *)l == (char *)(l->pool + 1); /* each level right after its pool's header */
      }
      printf("levels:%ld sum:%ld own:%ld last:%s holder:%ld same_pool:%d\n", count, sum, own, last, second_holder->n,
             second_holder->pool == top->pool && second_holder == holders + 1);
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
