/* records.c, version 1 — records reached only through `void *` (struct slot.data),
 * for the transfer's blind spot on objects copied as bytes
 * (stfw/tests/blind_spot_test.cc): 40 records, each with an id, a name and a score,
 * allocated by make_record (with -DEXTRA 4 bytes more than the struct, so the
 * record is no whole number of structs and stays untyped). Prints "ready", then
 * loops through an update point. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ttst.h"

#ifdef EXTRA
#define EXTRA_BYTES 4
#else
#define EXTRA_BYTES 0
#endif

struct rec {
  int id;
  char name[12];
  int score;
};
struct slot {
  void *data; /* a struct rec *: nothing typed points to it */
  int used;
};
struct slot slots[40];
/* Not state (only a local of main has it): the plan must not check it. Version 2
 * renames its member link -> next, which in the state would be a suspected rename. */
struct scratch {
  int n;
  struct scratch *link;
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
  (void)scratch.link;
  for (int i = 0; i < 40; ++i) slots[i].data = make_record(i), slots[i].used = 1;
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    TTST_UPDATE_POINT();
    usleep(20000);
  }
}
