/* exit_v2.c — a "new version" built with ttst-cc that exits with status 7 during
 * start-up (e.g. a bad configuration), saying why on stderr: the update must roll
 * back, and the report must hold that line. Its update point exists (the check made
 * before touching P passes) but is never reached. */
#include <stdio.h>
#include <stdlib.h>
#include <ttst.h>
int main(void) {
  if (getenv("EXIT_V2_NEVER_SET"))
    for (;;) TTST_UPDATE_POINT();
  fprintf(stderr, "exit_v2: bad configuration\n");
  return 7;
}
