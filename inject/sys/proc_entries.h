// proc_entries.h — the numbered entries of a process's /proc directories: its
// threads (/proc/PID/task) and its open descriptors (/proc/PID/fd).
// Why: seizing every thread, refusing multi-threaded programs and handing P's
// descriptors to v2 all list the same directories; one lister, one meaning of
// "the process is gone".
#pragma once

#include <sys/types.h>

#include <optional>
#include <vector>

namespace ttst::sys {

// Thread ids of process `pid`, ascending; nullopt when the process does not exist.
std::optional<std::vector<pid_t>> thread_ids(pid_t pid);

// Open file descriptors of process `pid`, ascending; nullopt when they cannot be
// listed (the process does not exist, or belongs to another user).
std::optional<std::vector<int>> open_fds(pid_t pid);

}  // namespace ttst::sys
