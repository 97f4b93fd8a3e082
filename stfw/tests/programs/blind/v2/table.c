/* table.c, version 2 — version 1's hash tables with a bucket count changed:
 * -DGLOBAL_GROWN (`table` has 16 buckets; with -DKEEP_OWN annotated
 * TTST_NO_TRANSFER), -DHEAP_GROWN (init_table allocates 16), neither (unchanged). After its state is transferred it prints how many of the
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
#ifdef KEEP_OWN /* the user's answer to a resized table: v2 keeps its own (empty) one */
TTST_NO_TRANSFER(table);
#endif

static void init_table(void) { heap_table = calloc(HEAP_BUCKETS, sizeof *heap_table); }

static void put(struct entry **buckets, unsigned n, int key) {
  struct entry *e = malloc(sizeof *e);
  e->key = key, e->value = 3 * key;
  e->next = buckets[key % n];
  buckets[key % n] = e;
}

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
  if (!transferred) /* a fresh start fills its own tables */
    for (int k = 0; k < 100; ++k) put(table, GLOBAL_BUCKETS, k), put(heap_table, HEAP_BUCKETS, k);
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
