// process_strings.h — where a process keeps its argument and environment strings
// (UNTRUSTED, runs inside the agent). The kernel lays them out at the top of the
// main thread's stack and reports the ranges in /proc/PID/stat; a program that
// keeps argv[0] or a getenv() result in a global holds a pointer into them. The
// future version is started with the same arguments and environment (plus its own
// marker variable), so each string has a twin there, found by content.
#ifndef TTST_STFW_XFER_PROCESS_STRINGS_H
#define TTST_STFW_XFER_PROCESS_STRINGS_H

#include "stfw/xfer/engine.h"

namespace ttst::stfw {

// Fills `out` for process `pid` (0: this process). False when /proc/PID/stat
// cannot be read or parsed.
bool read_string_areas(int pid, StringAreas* out);

}  // namespace ttst::stfw

#endif
