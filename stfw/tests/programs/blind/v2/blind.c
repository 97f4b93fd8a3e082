/* blind.c, version 2 — version 1's state with one declaration changed; after its
 * state is transferred it prints one line computed from that state. Built as
 * -DSHRINK (branches[4] -> branches[3]), -DRENAME (struct account.next renamed
 * nxt), -DRENAME -DANNOT_RENAMED (with TTST_RENAMED_FROM), -DDROP -DANNOT_DROPPED
 * (balance dropped on purpose and a new long credit added, with TTST_DROPPED). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ttst.h"

struct account {
  int id;
#ifdef RENAME
  struct account *nxt;
#else
  struct account *next;
#endif
#ifdef DROP
  long credit;
#else
  long balance;
#endif
};
#ifdef RENAME
#define NEXT nxt
#else
#define NEXT next
#endif
#ifdef ANNOT_RENAMED
TTST_RENAMED_FROM(struct account.nxt, next);
#endif
#ifdef ANNOT_DROPPED
TTST_DROPPED(struct account.balance);
#endif
struct branch {
  int n;
  struct account *head;
};
#ifdef SHRINK
#define BRANCHES 3
#else
#define BRANCHES 4
#endif
/* cur before branches: no global of the program starts where branches ends, so
 * &branches[4] is branches' one-past-the-end, not the next global. */
struct branch *cur;
struct branch branches[BRANCHES];

int main(void) {
  int transferred = ttst_is_updating();
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      int accounts = 0, counted = 0;
      long money = 0;
      for (int b = 0; b < BRANCHES; ++b) {
        counted += branches[b].n;
        for (struct account *a = branches[b].head; a; a = a->NEXT) {
          ++accounts;
#ifdef DROP
          money += a->credit;
#else
          money += a->balance;
#endif
        }
      }
      printf("accounts:%d counted:%d end:%d money:%ld\n", accounts, counted, (int)(cur - branches), money);
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
