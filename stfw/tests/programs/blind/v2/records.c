/* records.c, version 2 — version 1's records with struct rec changed: -DREORDER
 * (name first), -DWIDEN (id an int -> long), neither (same layout); -DEXTRA as in
 * version 1. After its state is transferred it prints one line computed from the
 * records: how many, how many names read "rec<id>", the sums of ids and scores. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

#ifdef EXTRA
#define EXTRA_BYTES 4
#else
#define EXTRA_BYTES 0
#endif

#if defined(REORDER)
struct rec {
  char name[12];
  int id;
  int score;
};
#elif defined(WIDEN)
struct rec {
  long id;
  char name[12];
  int score;
};
#else
struct rec {
  int id;
  char name[12];
  int score;
};
#endif
struct slot {
  void *data;
  int used;
};
struct slot slots[40];
/* Not state (only a local of main has it): the plan must not check it. Version 2
 * renames its member link -> next, which in the state would be a suspected rename. */
struct scratch {
  int n;
  struct scratch *next;
};

#ifdef NOTE
/* -DNOTE=n: a second struct pointer in scope at the allocation, defined after it
 * (a view of the record's first bytes), n bytes: 4 divides a record's 20, 7 does not. */
struct note {
  char tag[NOTE];
};
static struct rec *make_record(int i) {
  struct rec *r = malloc(sizeof *r + EXTRA_BYTES);
  struct note *n = (struct note *)r;
  r->id = i;
  snprintf(r->name, sizeof r->name, "rec%d", i);
  r->score = 2 * i + (n->tag[0] & 0);
  return r;
}
#elif defined(BYTES)
/* -DBYTES: the result goes to a void * first (and then to the struct pointer): the
 * site's one struct candidate is uncertain. */
static struct rec *make_record(int i) {
  void *mem = malloc(sizeof(struct rec) + EXTRA_BYTES);
  struct rec *r = mem;
  r->id = i;
  snprintf(r->name, sizeof r->name, "rec%d", i);
  r->score = 2 * i;
  return r;
}
#else
static struct rec *make_record(int i) {
  struct rec *r = malloc(sizeof *r + EXTRA_BYTES);
  r->id = i;
  snprintf(r->name, sizeof r->name, "rec%d", i);
  r->score = 2 * i;
  return r;
}
#endif

int main(void) {
  struct scratch scratch = {0, &scratch};
  (void)scratch.next;
  int transferred = ttst_is_updating();
  if (!transferred)
    for (int i = 0; i < 40; ++i) slots[i].data = make_record(i), slots[i].used = 1;
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      int recs = 0, names = 0;
      long ids = 0, scores = 0;
      for (int i = 0; i < 40; ++i) {
        struct rec *r = slots[i].data;
        if (!slots[i].used || !r) continue;
        char want[12];
        snprintf(want, sizeof want, "rec%ld", (long)r->id);
        ++recs, ids += r->id, scores += r->score;
        names += strncmp(r->name, want, sizeof want) == 0;
      }
      printf("recs:%d names:%d ids:%ld scores:%ld\n", recs, names, ids, scores);
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
