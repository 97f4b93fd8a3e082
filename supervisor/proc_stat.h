// proc_stat — the fields of a /proc/PID/stat or /proc/PID/task/TID/stat line after the
// command name, which may itself hold spaces and parentheses (it ends at the last ')').
// One parser for the supervisor's readers of that line: the pin's start time, the
// threads' creation order, a child's state and parent, the agents' CPU time. TRUSTED.
#pragma once

#include <string>
#include <vector>

namespace ttst::supervisor {

// Field n of proc(5) (n >= 3: 3 the state, 4 the parent pid, 14 and 15 utime and
// stime, 22 starttime) is the result's [n - 3]; empty when the line has no ')'.
std::vector<std::string> stat_fields(const std::string& stat);

}  // namespace ttst::supervisor
