// probe_loop — TEST ONLY (never shipped): the quiescence probe, quiesce::check(),
// run on process PID over and over, so that quiesce_test can SIGKILL our real
// probe code in the middle of a probe and check that P was left untouched.
//   probe_loop PID PROGRAM    prints "PROBING" once, then probes until killed
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "supervisor/quiesce/quiesce.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: probe_loop PID PROGRAM\n");
    return 2;
  }
  try {
    pid_t pid = static_cast<pid_t>(std::atol(argv[1]));
    ttst::quiesce::UpdatePointMap map = ttst::quiesce::UpdatePointMap::load(argv[2]);
    std::printf("PROBING\n");
    std::fflush(stdout);
    for (;;) ttst::quiesce::check(pid, map);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "probe_loop: %s\n", e.what());
    return 3;
  }
}
