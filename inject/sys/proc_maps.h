// proc_maps.h — a process's memory mappings, parsed from /proc/PID/maps.
// Why: the host side (inject, the supervisor, the differ) needs the same view of
// P's, R's and F's address spaces; this is the only host code that reads the text
// format. (The agent keeps its own freestanding reader: it cannot link this.)
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ttst::sys {

struct Mapping {
  uint64_t start = 0, end = 0;  // [start, end), page aligned
  std::string perms;            // exactly 4 characters when parsed, e.g. "rw-p"
  uint64_t offset = 0;          // file offset
  std::string dev;              // "fd:01"
  uint64_t inode = 0;
  std::string path;             // "", "[heap]", "[stack]", "/usr/lib/...", "/memfd:x (deleted)"

  bool readable() const { return perms.size() > 0 && perms[0] == 'r'; }
  bool writable() const { return perms.size() > 1 && perms[1] == 'w'; }
  bool executable() const { return perms.size() > 2 && perms[2] == 'x'; }
  bool shared() const { return perms.size() > 3 && perms[3] == 's'; }
  uint64_t size() const { return end - start; }
  bool contains(uint64_t addr) const { return addr >= start && addr < end; }
  // Same range and same backing object and permissions: every field equal.
  bool operator==(const Mapping&) const = default;
  std::string describe() const;  // one line, as in /proc/PID/maps
};

// Parses one line of /proc/PID/maps; returns false when it is malformed.
bool parse_maps_line(const std::string& line, Mapping& out);

// All mappings of `pid` (a thread id works too), in address order. Throws
// std::runtime_error (with the path and errno text) when the file cannot be read
// or a line is malformed. A process that has exited has no mappings.
std::vector<Mapping> read_maps(pid_t pid);

}  // namespace ttst::sys
