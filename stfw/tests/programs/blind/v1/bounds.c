/* bounds.c, version 1 — pointers one past the end of an array that are also the
 * start of what follows it, for the transfer's boundary cases
 * (stfw/tests/blind_spot_test.cc): `pairs_end` = &pairs[3], where the global `tail`
 * starts (initialised globals, laid out in order at -O0); `text_end` =
 * &spn.text[8], where the member spn.count starts. Prints "ready", then loops
 * through an update point. */
#include <stdio.h>
#include <unistd.h>

#include "ttst.h"

struct pair {
  long a, b;
};
struct span {
  char text[8];
  long count;
};
struct pair pairs[3] = {{1, 2}, {3, 4}, {5, 6}};
long tail = 7;
struct span spn = {"abc", 1};
struct pair *pairs_end; /* .bss: not between the initialised globals */
char *text_end;
long *tail_ptr;

int main(void) {
  pairs_end = &pairs[3];
  text_end = &spn.text[8];
  tail_ptr = &tail;
  if ((void *)pairs_end != (void *)&tail || (void *)text_end != (void *)&spn.count) {
    printf("no boundary: the globals are not laid out in order\n"); /* the test would prove nothing */
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    TTST_UPDATE_POINT();
    usleep(20000);
  }
}
