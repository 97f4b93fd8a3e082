/* logger.c — prints a numbered line every 5 ms to stdout and never flushes it (to
 * a file stdout is fully buffered: lines sit in the process for a while). Built as
 * version 1 and 2 (-DV=1/2). Version 2, once its state is in, prints 20 more lines
 * and exits, which flushes them: the file then shows whether a line printed by
 * version 1 was lost at the update (supervise_test, stdio_flush.h). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ttst.h"

long next_line;

int main(void) {
  long stop = -1;
  for (;;) {
    TTST_UPDATE_POINT();
    if (V == 2 && stop < 0) stop = next_line + 20;
    if (next_line == stop) exit(0);
    printf("v%d line %ld\n", V, next_line++);
    usleep(5000);
  }
}
