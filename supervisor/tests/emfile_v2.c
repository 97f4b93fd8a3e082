/* emfile_v2.c — a "new version" built with ttst-cc whose start-up lowers its
 * descriptor limit to 64 and opens /dev/null until EMFILE, then reaches its update
 * point with no descriptor free: the transfer cannot open /proc/PID/maps in it. */
#include <fcntl.h>
#include <sys/resource.h>
#include <ttst.h>
int main(void) {
  struct rlimit r = {64, 64};
  setrlimit(RLIMIT_NOFILE, &r);
  while (open("/dev/null", O_RDONLY) >= 0) {
  }
  for (;;) TTST_UPDATE_POINT();
}
