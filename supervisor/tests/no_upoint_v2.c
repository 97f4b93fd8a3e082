/* no_upoint_v2.c — a "new version" built with ttst-cc that never reaches its update
 * point (it waits in pause() forever in start-up): the update must time out and roll
 * back, saying where v2 waits. */
#include <unistd.h>
#include <ttst.h>
int main(void) {
  for (;;) {
    pause();
    TTST_UPDATE_POINT();
  }
}
