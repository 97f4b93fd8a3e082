// library_function.h — where a function exported by a shared library lies in a
// running process: the one mapped library whose dynamic symbol table (.dynsym,
// read with libelf from the file the process has mapped) defines it. TRUSTED: a
// poller path that ends in a library function (ttst_abi.h §7: memcached's
// TTST_POLLER="event_base_loop", libevent's loop) is checked against this range.
//
// Why the dynamic symbol table: distribution libraries ship without debug info or
// .symtab, but every function a program can call in them is exported there, with
// its size. Fail-safe: a name no mapped library defines, or that two define, or a
// file that cannot be opened or is not the mapped one (device and inode differ),
// gives no range, and the path is then not used.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "inject/sys/proc_maps.h"

namespace ttst::quiesce {

struct LibraryFunction {
  std::string file;          // the library's path as mapped ("/usr/lib/x86_64-linux-gnu/libevent-2.1.so.7.0.1")
  uint64_t lo = 0, hi = 0;   // run-time [lo, hi) of the function's code
};

// The exported function `name` in the shared libraries `maps` of process `pid`
// holds (every file-backed executable mapping except the program `exe`). False,
// with `why` saying what went wrong, unless exactly one library defines it.
bool find_library_function(pid_t pid, const std::vector<sys::Mapping>& maps, const std::string& exe,
                           const std::string& name, LibraryFunction& out, std::string& why);

// The file mapped as `m` in process `pid`, opened read-only: through
// /proc/PID/map_files (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), else by its
// path, accepted only if it is still the mapped file (same device and inode), so a
// file replaced on disk is never read in its place. -1 when neither works.
int open_mapped_file(pid_t pid, const sys::Mapping& m);

// True when `path` is the C library (its file name starts with "libc.so" or
// "libc-"): the only library whose frames may sit below a library poller's.
bool is_libc(const std::string& path);

}  // namespace ttst::quiesce
