// maps.h — one process's memory mappings, parsed from /proc/PID/maps.
// Why: the differ pairs P's and R's mappings by their full identity (range,
// permissions, backing object); this is the only place that reads the text format.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ttst::diff {

struct Mapping {
  uint64_t start = 0, end = 0;  // [start, end), page aligned
  std::string perms;            // exactly 4 characters, e.g. "rw-p"
  uint64_t offset = 0;          // file offset
  std::string dev;              // "fd:01"
  uint64_t inode = 0;
  std::string path;             // "", "[heap]", "/usr/lib/...", "/memfd:x (deleted)"

  bool readable() const { return perms[0] == 'r'; }
  bool writable() const { return perms[1] == 'w'; }
  bool shared() const { return perms[3] == 's'; }
  uint64_t size() const { return end - start; }
  // Same range and same backing object and permissions: every field equal.
  bool operator==(const Mapping&) const = default;
  std::string describe() const;  // one line, as in /proc/PID/maps
};

// Parses one line of /proc/PID/maps; returns false when it is malformed.
bool parse_maps_line(const std::string& line, Mapping& out);

// All mappings of `pid`, in address order. Throws std::runtime_error (with the
// path and errno text) when the file cannot be read or a line is malformed.
std::vector<Mapping> read_maps(pid_t pid);

}  // namespace ttst::diff
