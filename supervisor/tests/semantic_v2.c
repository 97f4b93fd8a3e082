/* semantic_v2.c — a "new version" for kvserver v1 whose global `config` changed
 * meaning (a struct became a double): the plan needs user transfer code for it, so
 * ttst-supervise must refuse without --xfer, naming `config`. */
#include <unistd.h>
#include <ttst.h>
double config = 1.0;
int main(void) {
  for (;;) {
    TTST_UPDATE_POINT();
    pause();
  }
}
