/* no_upoint_v2.c — a "new version" built with ttst-cc that never reaches an update
 * point (it sleeps forever in start-up): the update must time out and roll back. */
#include <unistd.h>
#include <ttst.h>
int main(void) {
  for (;;) pause();
  TTST_UPDATE_POINT();
}
