// libraries.h — where each shared library of the peer is mapped in this process
// (UNTRUSTED, runs inside the agent).
//
// A pointer of the program's state into a library's static data (`FILE *log =
// stdout` points into libc's .data) must point to the same object of the same
// library in the other process. Both processes map the libraries at different
// addresses (ASLR), but when a library is the same file (same device and inode) its
// layout is identical, so the object is at the same offset from the library's first
// mapping: that offset is exactly what a lookup by symbol would give. A library the
// other process maps from a different file at the same path (upgraded on disk)
// is matched by symbol name instead (LibrarySymbols); one it does not map at all
// has no counterpart: the engine refuses pointers into it by policy.
#ifndef TTST_STFW_XFER_LIBRARIES_H
#define TTST_STFW_XFER_LIBRARIES_H

#include <stdint.h>

#include "stfw/xfer/elf_image.h"
#include "stfw/xfer/engine.h"

namespace ttst::stfw {

// Fills `out` with one LibRange per file-backed library of process `peer` (its
// executable, the file mapped at `peer_exe_addr`, excluded), matched against this
// process's mappings (executable at `self_exe_addr`). Each range spans the
// library's mappings plus the anonymous mapping right after them (.bss). Returns
// the count, or -errno: -kENOMEM (proc_maps.h) when out of memory, else the errno
// of opening /proc/PID/maps (-kEMFILE: no free descriptor).
// Also gives where each executable's first mapping (its ELF header) starts.
int64_t map_libraries(int peer, uint64_t peer_exe_addr, uint64_t self_exe_addr, const LibRange** out,
                      uint64_t* peer_exe_start, uint64_t* self_exe_start);

// Library addresses carried over by symbol name:
//  - into a library the peer maps from a different file than this process does at
//    the same path (LibRange::twin_start): the import of the peer's executable the
//    loader bound to exactly that address (functions, IFUNC choices included), else
//    the peer library's dynamic symbol holding it; then the same import or symbol
//    here, at the same offset;
//  - into the peer's executable outside any object (lib_or_exe NULL): a variable of
//    a library copied into the executable by a copy relocation (stdout, environ,
//    signgam...): the copy of the same name here.
// Images are opened on first use.
class LibrarySymbols {
 public:
  LibrarySymbols(int peer, uint64_t peer_exe_start, uint64_t self_exe_start)
      : peer_(peer), peer_exe_start_(peer_exe_start), self_exe_start_(self_exe_start) {}
  // This process's address for `v`, or 0; `symbol` gets the peer's symbol name.
  uint64_t translate(const LibRange* lib_or_exe, uint64_t v, char* symbol, uint64_t cap);

 private:
  struct LibraryPair {
    uint64_t src_start;
    bool ok;
    ElfImage theirs, ours;
  };
  int peer_;
  uint64_t peer_exe_start_, self_exe_start_;
  bool exes_opened_ = false, exes_ok_ = false;
  ElfImage their_exe_, our_exe_;
  LibraryPair pairs_[16];
  uint32_t pair_count_ = 0;
};

}  // namespace ttst::stfw

#endif
