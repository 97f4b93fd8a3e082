// stdio_flush.h — at commit, the output the past version's stdio buffers still
// hold is written to its files before the future version takes over. TRUSTED; runs
// only past the commit point, on a doomed P (it never runs its own code again).
//
// A C program's printf to a file or a pipe is buffered inside the process, and P is
// ended at commit without running exit() (which would flush, but would also run
// atexit handlers against resources F now owns). Whatever P printed and had not yet
// written would be lost: log lines missing at every update. glibc keeps every open
// FILE on the list `_IO_list_all`; a FILE's pending output is the bytes between its
// `_IO_write_base` and `_IO_write_ptr` (the FILE layout is part of glibc's ABI).
// Those bytes are written by write(2) executed inside P (inject::RemoteSyscalls in
// its fail-safe mode: a supervisor that dies meanwhile leaves P doomed as it was),
// before F is released: each file gets P's output, then F's.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "inject/task.h"

namespace ttst::supervisor {

struct StdioFlush {
  size_t files = 0;     // FILEs that had pending output
  uint64_t bytes = 0;   // bytes written
  uint64_t lost = 0;    // bytes that could not be written
  std::string problem;  // why some could not ("" when all were)
};

// Never throws: past the commit point nothing may stop the commit.
StdioFlush flush_past_stdio(pid_t pid, inject::Task& past_thread, std::chrono::milliseconds per_write);

}  // namespace ttst::supervisor
