/* annot.c — every annotation macro of ttst.h, at file scope and in a function,
 * for the annotation round-trip test. */
#include <stdlib.h>
#include <ttst.h>

struct conn {
  char buf[64];
  void *cookie;
};
static long hits;
void *pool;

TTST_IXFER(hits);
TTST_PXFER(struct conn.cookie);
TTST_RENAMED_FROM(pool, old_pool);
TTST_ALLOCATOR(pool_get, 2);
TTST_ALLOCATOR_N(pool_calloc, 1, 2);
TTST_DEALLOCATOR(pool_put, 2);

void *pool_get(void *p, size_t n) { return p ? malloc(n) : NULL; }
void *pool_calloc(size_t count, size_t n) { return calloc(count, n); }
void pool_put(void *p, void *obj) { if (p) free(obj); }

int main(void) {
  static int epfd = -1;
  TTST_NO_TRANSFER(main::epfd);
  struct conn c = {{0}, 0};
  for (int i = 0; i < 3; i++) {
    TTST_UPDATE_POINT();
    hits++;
  }
  return (int)(hits - 3) + epfd + 1 + (c.cookie != 0);
}
