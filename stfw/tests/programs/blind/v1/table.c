/* table.c, version 1 — two hash tables of 100 entries chained through
 * struct entry.next, for the transfer's blind spot on arrays of pointers whose
 * length changes (stfw/tests/blind_spot_test.cc): `table`, a global array of 8
 * buckets, and `heap_table`, 8 buckets that init_table allocates at start-up.
 * A key's bucket is key % the bucket count. Prints "ready", then loops through an
 * update point. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ttst.h"

#define GLOBAL_BUCKETS 8
#define HEAP_BUCKETS 8

struct entry {
  int key;
  int value;
  struct entry *next;
};
struct entry *table[GLOBAL_BUCKETS];
struct entry **heap_table;

static void init_table(void) { heap_table = calloc(HEAP_BUCKETS, sizeof *heap_table); }

static void put(struct entry **buckets, unsigned n, int key) {
  struct entry *e = malloc(sizeof *e);
  e->key = key, e->value = 3 * key;
  e->next = buckets[key % n];
  buckets[key % n] = e;
}

int main(void) {
  init_table();
  for (int k = 0; k < 100; ++k) put(table, GLOBAL_BUCKETS, k), put(heap_table, HEAP_BUCKETS, k);
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    TTST_UPDATE_POINT();
    usleep(20000);
  }
}
