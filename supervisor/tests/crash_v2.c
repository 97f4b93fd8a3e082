/* crash_v2.c — a "new version" built with ttst-cc that crashes (NULL store) during
 * start-up, before its first update point: the update must roll back. */
#include <stdio.h>
#include <ttst.h>
int *volatile nowhere;
int main(void) {
  *nowhere = 42; /* SIGSEGV at address 0 */
  for (;;) TTST_UPDATE_POINT();
}
