/* pooldata — nginx's pool blocks (stfw/tests/carve_xfer_test.cc): a pool's first
 * block starts with the whole pool_t header (pool_data_t d, then max, current,
 * large, log), every later block (pool_block) with only pool_data_t d, and its
 * sub-allocations begin right after that. d.next and current are pool_t * in the
 * type, yet point at later blocks' pool_data_t; the program never spells a
 * pool_data_t * (as nginx never spells ngx_pool_data_t *). Nodes of a list are
 * carved out of the blocks, one right after a later block's short header.
 * BUILD declares the pools by type (TTST_ANNOTATIONS, no source change); _data adds
 * POINTS_TO(pool_data_t.next, pool_data_t), POINTS_TO(pool_t.current, pool_data_t)
 * and CONTAINER(pool_data_t, ...): without them an ngx_pool_t would be carved over
 * the next sub-object (refused: larger than its room). The pool's `current` also
 * points at its own first block, reached as pool_t * too (one sub-object, pool_t).
 * After the update the new version allocates more nodes through `current`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

#define BLOCK 256

typedef struct pool_s pool_t;
typedef struct {
  char *last, *end;
  pool_t *next; /* a later block: only its pool_data_t */
  unsigned long failed;
} pool_data_t;
struct pool_s {
  pool_data_t d;
  unsigned long max;
  pool_t *current; /* the block allocations start from: the first, or a later one */
  void *large;
  char *tag;
};

struct node {
  struct node *next;
  long value;
  char label[8];
};

pool_t *pool;      /* the pool (its first block) */
struct node *head; /* run-time state carved out of the pool's blocks */
#ifdef V2
long allocated_by_v2; /* v2 adds a global */
#endif

static pool_t *create_pool(void) {
  pool_t *p = malloc(BLOCK);
  p->d.last = (char *)(p + 1), p->d.end = (char *)p + BLOCK, p->d.next = 0, p->d.failed = 0;
  p->max = BLOCK - sizeof *p, p->current = p, p->large = 0, p->tag = 0;
  return p;
}

static void *pool_block(pool_t *p, size_t n) { /* nginx's ngx_palloc_block: a short header */
  char *m = malloc(BLOCK);
  pool_t *fresh = (pool_t *)m;
  fresh->d.end = m + BLOCK, fresh->d.next = 0, fresh->d.failed = 0;
  m += sizeof(pool_data_t);
  fresh->d.last = m + n;
  pool_t *q = p->current;
  while (q->d.next) q = q->d.next;
  q->d.next = fresh;
  p->current = fresh; /* simpler than nginx's failed counts: the newest block */
  return m;
}

static void *palloc(pool_t *p, size_t n) {
  for (pool_t *q = p->current; q; q = q->d.next)
    if ((size_t)(q->d.end - q->d.last) >= n) {
      void *m = q->d.last;
      q->d.last += (n + 7) & ~7ul;
      return m;
    }
  return pool_block(p, (n + 7) & ~7ul);
}

static void push(long value, const char *label) {
  struct node *n = palloc(pool, sizeof *n);
  n->value = value, n->next = head;
  snprintf(n->label, sizeof n->label, "%s", label);
  head = n;
}

/* This process's own start-up answer to "was my state just transferred in?",
 * never the old version's: a local set before the loop is state the transfer
 * carries (the old version's 0) whenever the old version's frame holds it. */
static int transferred;
TTST_NO_TRANSFER(transferred);

int main(void) {
  transferred = ttst_is_updating();
  if (!transferred) {
    pool = create_pool();
    pool->tag = palloc(pool, 8);
    strcpy(pool->tag, "pool");
    char name[8];
    for (long i = 0; i < 20; i++) snprintf(name, sizeof name, "n%ld", i), push(i, name); /* 3 blocks */
    pool->current = pool; /* back at the first block: reached as pool_t * and through current */
    printf("ready\n");
    fflush(stdout);
  }
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      push(100, "v2a"), push(200, "v2b"); /* through current and d.next, into a fresh block */
      long sum = 0, count = 0, blocks = 0;
      for (struct node *n = head; n; n = n->next) sum += n->value, count++;
      for (pool_t *q = pool; q; q = q->d.next) blocks++;
      printf("nodes:%ld sum:%ld head:%s last:%s blocks:%ld tag:%s\n", count, sum, head->label,
             head->next->next->label, blocks, pool->tag);
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
