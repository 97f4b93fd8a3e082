/* bounds.c, version 2 — version 1's globals with something put between the
 * boundaries: a global `spacer` between pairs and tail, a member `added` between
 * spn.text and spn.count. After its state is transferred it prints where the
 * pointers landed, in bytes from the start of their arrays, and tail_ptr's target. */
#include <stdio.h>
#include <unistd.h>

#include "ttst.h"

struct pair {
  long a, b;
};
struct span {
  char text[8];
  long added;
  long count;
};
struct pair pairs[3] = {{1, 2}, {3, 4}, {5, 6}};
long spacer = 9;
long tail = 7;
struct span spn = {"abc", 0, 1};
struct pair *pairs_end;
char *text_end;
long *tail_ptr;

int main(void) {
  int transferred = ttst_is_updating();
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      printf("pairs_end:%ld text_end:%ld tail:%ld\n", (long)((char *)pairs_end - (char *)pairs),
             (long)(text_end - spn.text), tail_ptr ? *tail_ptr : -1L);
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
