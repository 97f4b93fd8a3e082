// proc_entries.cc — see proc_entries.h.
#include "inject/sys/proc_entries.h"

#include <dirent.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace ttst::sys {
namespace {

// The entries of /proc/PID/<dir> whose names are numbers, ascending.
std::optional<std::vector<int>> numbered_entries(pid_t pid, const char* dir) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + dir;
  DIR* d = opendir(path.c_str());
  if (!d) return std::nullopt;
  std::vector<int> out;
  while (dirent* e = readdir(d))
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.push_back(std::atoi(e->d_name));
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::optional<std::vector<pid_t>> thread_ids(pid_t pid) { return numbered_entries(pid, "task"); }

std::optional<std::vector<int>> open_fds(pid_t pid) { return numbered_entries(pid, "fd"); }

}  // namespace ttst::sys
