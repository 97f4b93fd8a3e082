/* table.c, version 2 — version 1's hash tables with a bucket count changed:
 * -DGLOBAL_GROWN (`table` has 16 buckets), -DHEAP_GROWN (init_table allocates 16),
 * neither (unchanged). After its state is transferred it prints how many of the
 * 100 keys each table finds, looking in bucket key % its bucket count. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ttst.h"

#ifdef GLOBAL_GROWN
#define GLOBAL_BUCKETS 16
#else
#define GLOBAL_BUCKETS 8
#endif
#ifdef HEAP_GROWN
#define HEAP_BUCKETS 16
#else
#define HEAP_BUCKETS 8
#endif

struct entry {
  int key;
  int value;
  struct entry *next;
};
struct entry *table[GLOBAL_BUCKETS];
struct entry **heap_table;

static void init_table(void) { heap_table = calloc(HEAP_BUCKETS, sizeof *heap_table); }

static int found(struct entry **buckets, unsigned n) {
  int hits = 0;
  for (int k = 0; k < 100; ++k)
    for (struct entry *e = buckets[k % n]; e; e = e->next)
      if (e->key == k && e->value == 3 * k) {
        ++hits;
        break;
      }
  return hits;
}

int main(void) {
  int transferred = ttst_is_updating();
  init_table();
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      printf("table:%d heap_table:%d\n", found(table, GLOBAL_BUCKETS), found(heap_table, HEAP_BUCKETS));
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
