// proc_maps.cc — parser for /proc/PID/maps (see proc_maps.h).
#include "inject/sys/proc_maps.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace ttst::sys {

std::string Mapping::describe() const {
  char head[160];
  snprintf(head, sizeof head, "%012" PRIx64 "-%012" PRIx64 " %s %08" PRIx64 " %s %" PRIu64,
           start, end, perms.c_str(), offset, dev.c_str(), inode);
  return path.empty() ? std::string(head) : std::string(head) + " " + path;
}

bool parse_maps_line(const std::string& line, Mapping& m) {
  // "start-end perms offset dev inode   path" — the path may contain spaces.
  char perms[8] = {}, dev[32] = {};
  unsigned long long start, end, offset, inode;
  int path_at = -1;
  if (sscanf(line.c_str(), "%llx-%llx %7s %llx %31s %llu %n", &start, &end, perms, &offset,
             dev, &inode, &path_at) < 6 || path_at < 0)
    return false;
  if (strlen(perms) != 4 || start >= end) return false;
  m.start = start;
  m.end = end;
  m.perms = perms;
  m.offset = offset;
  m.dev = dev;
  m.inode = inode;
  m.path = line.substr(static_cast<size_t>(path_at));
  return true;
}

std::vector<Mapping> read_maps(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/maps";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + strerror(errno));
  std::vector<Mapping> out;
  std::string line;
  while (std::getline(in, line)) {
    Mapping m;
    if (!parse_maps_line(line, m)) throw std::runtime_error("malformed line in " + path + ": " + line);
    out.push_back(std::move(m));
  }
  if (in.bad()) throw std::runtime_error("error reading " + path);
  return out;
}

}  // namespace ttst::sys
