/* upointless_v2.c — a "new version" built with ttst-cc whose binary holds no update
 * point at all: refused before P is touched. */
#include <unistd.h>
#include <ttst.h>
int main(void) {
  for (;;) pause();
}
