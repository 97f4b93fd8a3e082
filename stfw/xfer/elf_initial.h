// elf_initial.h — a global's initial bytes as the executable file holds them (its
// ELF initializer), read by the agent from the peer's /proc/PID/exe, for the
// "untouched ELF initialiser" rule (stfw/README.md "Start-up state v2 owns"): a
// global whose value still equals v1's initializer takes v2's start-up value.
// UNTRUSTED, freestanding (agent only).
#ifndef TTST_STFW_XFER_ELF_INITIAL_H
#define TTST_STFW_XFER_ELF_INITIAL_H

#include <stdint.h>

namespace ttst::stfw {

class InitialImage {
 public:
  // Opens /proc/PID/exe (pid 0: this process's) and reads its program headers;
  // false when unreadable.
  bool open(int pid);
  // The `len` initial bytes at link address `link_addr` into `buf`: the file's
  // bytes of its PT_LOAD segment, zeros past the segment's file part (.bss).
  // Returns how many came from the file (0: all zeros), or -1 when the range is
  // not inside one writable segment or the file cannot be read.
  long read(uint64_t link_addr, void* buf, uint64_t len) const;
  // Closes the file (the agent runs inside the program: no descriptor may stay).
  void close();
  ~InitialImage() { close(); }

 private:
  struct Segment {
    uint64_t vaddr, filesz, memsz, offset;
  };
  Segment segments_[16] = {};
  uint32_t count_ = 0;
  int fd_ = -1;
};

}  // namespace ttst::stfw

#endif
