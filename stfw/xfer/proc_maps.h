// proc_maps.h — /proc/PID/maps read and parsed inside the agent (UNTRUSTED,
// freestanding): the peer's writable mappings are what the transfer copies, its
// file-backed ones tell where its libraries are.
#ifndef TTST_STFW_XFER_PROC_MAPS_H
#define TTST_STFW_XFER_PROC_MAPS_H

#include <stdint.h>

namespace ttst::stfw {

struct MapsLine {
  uint64_t lo, hi, offset, dev, inode;  // dev: major:minor as read, packed
  bool readable, writable;
  const char* path;  // not NUL-terminated: path_len bytes ("" for anonymous)
  uint64_t path_len;
};

// "/proc/PID/<leaf>" (pid 0: "/proc/self/<leaf>") into `path` (at least 48 bytes).
void proc_path(char* path, int pid, const char* leaf);

// The text of /proc/PID/maps (pid 0: this process), NUL-terminated, in the agent's
// arena; NULL when unreadable or out of memory (then *no_memory, if given, says which).
const char* read_maps(int pid, bool* no_memory = nullptr);
// Parses the line at `p` and advances `p` past it; false at the end of the text.
bool next_maps_line(const char*& p, MapsLine* out);

}  // namespace ttst::stfw

#endif
