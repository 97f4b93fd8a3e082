/* spin_startup_v2.c — a "new version" built with ttst-cc whose start-up computes for
 * ever (no system call, never at its update point): on a CPU it does not get, the
 * time limit runs out while it waits for the CPU, and the rollback must blame the
 * limit on a busy machine, not a missing update point. */
#include <unistd.h>
#include <ttst.h>
static volatile unsigned long spins;
static volatile int started; /* never set: the loop below never ends */
int main(void) {
  while (!started) spins++;
  for (;;) {
    TTST_UPDATE_POINT();
    pause();
  }
}
