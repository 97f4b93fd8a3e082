/* exit_v2.c — a "new version" built with ttst-cc that exits with status 7 during
 * start-up (e.g. a bad configuration): the update must roll back. */
#include <stdio.h>
#include <ttst.h>
int main(void) {
  fprintf(stderr, "exit_v2: bad configuration\n");
  return 7;
  TTST_UPDATE_POINT();
}
