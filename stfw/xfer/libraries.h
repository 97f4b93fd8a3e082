// libraries.h — where each shared library of the peer is mapped in this process
// (UNTRUSTED, runs inside the agent).
//
// A pointer of the program's state into a library's static data (`FILE *log =
// stdout` points into libc's .data) must point to the same object of the same
// library in the other process. Both processes map the libraries at different
// addresses (ASLR), but when a library is the same file (same device and inode) its
// layout is identical, so the object is at the same offset from the library's first
// mapping: that offset is exactly what a lookup by symbol would give. A library the
// other process does not map, or maps from a different file (upgraded on disk),
// has no counterpart: the engine refuses pointers into it by policy.
#ifndef TTST_STFW_XFER_LIBRARIES_H
#define TTST_STFW_XFER_LIBRARIES_H

#include <stdint.h>

#include "stfw/xfer/engine.h"

namespace ttst::stfw {

// Fills `out` with one LibRange per file-backed library of process `peer` (its
// executable, the file mapped at `peer_exe_addr`, excluded), matched against this
// process's mappings (executable at `self_exe_addr`). Each range spans the
// library's mappings plus the anonymous mapping right after them (.bss). Returns
// the count, or -1 when /proc/PID/maps cannot be read, -2 when out of memory.
int64_t map_libraries(int peer, uint64_t peer_exe_addr, uint64_t self_exe_addr, const LibRange** out);

}  // namespace ttst::stfw

#endif
