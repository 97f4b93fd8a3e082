/* abort_v2.c — a "new version" built with ttst-cc that says why on stderr, then calls
 * abort() from load_config() during start-up: the report must name load_config (the
 * innermost v2 function on the stack) and hold the stderr line. */
#include <stdio.h>
#include <stdlib.h>
#include <ttst.h>
static void load_config(void) {
  fprintf(stderr, "abort_v2: cannot load the configuration\n");
  abort();
}
int main(void) {
  load_config();
  for (;;) TTST_UPDATE_POINT();
}
