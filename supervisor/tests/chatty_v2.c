/* chatty_v2.c — a "new version" built with ttst-cc that writes 200 numbered lines of
 * about 50 bytes to stderr (10 KB, unbuffered: one write each) and exits with status
 * 3 during start-up: the report keeps only the last 4 KiB. */
#include <stdio.h>
#include <stdlib.h>
#include <ttst.h>
int main(void) {
  if (getenv("CHATTY_V2_NEVER_SET"))
    for (;;) TTST_UPDATE_POINT();
  for (int i = 0; i < 200; ++i) fprintf(stderr, "chatty_v2: start-up line %03d ..........................\n", i);
  return 3;
}
