// proc_maps.h — /proc/PID/maps read and parsed inside the agent (UNTRUSTED,
// freestanding): the peer's writable mappings are what the transfer copies, its
// file-backed ones tell where its libraries are.
#ifndef TTST_STFW_XFER_PROC_MAPS_H
#define TTST_STFW_XFER_PROC_MAPS_H

#include <stdint.h>

namespace ttst::stfw {

struct MapsLine {
  uint64_t lo, hi, offset, dev, inode;  // dev: major:minor as read, packed
  bool readable, writable, shared;  // shared: MAP_SHARED ('s'), else private
  const char* path;  // not NUL-terminated: path_len bytes ("" for anonymous)
  uint64_t path_len;
  bool brk_heap() const { return path_len == 6 && __builtin_memcmp(path, "[heap]", 6) == 0; }
};

// "/proc/PID/<leaf>" (pid 0: "/proc/self/<leaf>") into `path` (at least 48 bytes).
void proc_path(char* path, int pid, const char* leaf);

// errno values the agent tells apart when a /proc file cannot be read.
constexpr long kENOMEM = 12, kENFILE = 23, kEMFILE = 24;

// The text of /proc/PID/maps (pid 0: this process), NUL-terminated, in the agent's
// arena; NULL when unreadable or out of memory: then *error, if given, is the errno
// (kENOMEM: the arena is full; else the open's, kEMFILE when this process has no
// free descriptor).
const char* read_maps(int pid, long* error = nullptr);
// Parses the line at `p` and advances `p` past it; false at the end of the text.
bool next_maps_line(const char*& p, MapsLine* out);

}  // namespace ttst::stfw

#endif
