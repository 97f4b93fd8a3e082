/* blind.c, version 1 — state for two of the transfer's former blind spots
 * (stfw/tests/blind_spot_test.cc): a global array of branches (v2 may drop its last
 * element) with a pointer `cur` to one past its end, or with argument "dropped" to
 * its last element; and a linked list of accounts through `struct account.next`
 * (v2 may rename that member, or drop balance and add credit). Prints "ready", then loops through an update point. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

struct account {
  int id;
  struct account *next;
  long balance;
};
struct branch {
  int n;
  struct account *head;
};
/* cur before branches: no global of the program starts where branches ends, so
 * &branches[4] is branches' one-past-the-end, not the next global. */
struct branch *cur;
struct branch branches[4];

int main(int argc, char **argv) {
  for (int i = 0; i < 100; ++i) {
    struct account *a = malloc(sizeof *a);
    a->id = i;
    a->balance = 10 * i;
    a->next = branches[i % 3].head;
    branches[i % 3].head = a;
    branches[i % 3].n++;
  }
  cur = argc > 1 && strcmp(argv[1], "dropped") == 0 ? &branches[3] : &branches[4];
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    TTST_UPDATE_POINT();
    usleep(20000);
  }
}
