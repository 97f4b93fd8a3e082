// memory.h — reading and writing another process's memory (process_vm_readv /
// process_vm_writev) and a digest proving it unchanged. TRUSTED.
// The host writes into R and F (the agent's region, before the agent runs); into P
// only the fail-safe frames of a remote syscall, below its stack pointer, whose
// original bytes are put back (failsafe_frame.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "inject/remote_addr.h"
#include "inject/sys/proc_maps.h"

namespace ttst::inject {

// Reads exactly out.size() bytes or throws.
void read_memory(pid_t pid, uint64_t addr, std::span<uint8_t> out);
std::vector<uint8_t> read_memory(pid_t pid, uint64_t addr, size_t len);
// Reads up to out.size() bytes; returns how many were readable (0 on failure).
size_t try_read_memory(pid_t pid, uint64_t addr, std::span<uint8_t> out);
// Writes exactly data.size() bytes or throws (the pages must be writable).
void write_memory(pid_t pid, uint64_t addr, std::span<const uint8_t> data);
// Many small pieces, each [address, bytes), by batches of up to 1024 per system
// call (a hundred thousand scattered ranges cost a hundred calls, not 1e5); throws
// unless every byte is written.
using MemoryPiece = std::pair<uint64_t, std::span<const uint8_t>>;
void write_memory_pieces(pid_t pid, std::span<const MemoryPiece> pieces);

// The same with typed run-time addresses (remote_addr.h).
inline void read_memory(pid_t pid, RemoteAddr addr, std::span<uint8_t> out) { read_memory(pid, addr.value(), out); }
inline size_t try_read_memory(pid_t pid, RemoteAddr addr, std::span<uint8_t> out) {
  return try_read_memory(pid, addr.value(), out);
}
inline void write_memory(pid_t pid, RemoteAddr addr, std::span<const uint8_t> data) {
  write_memory(pid, addr.value(), data);
}

// A byte range [start, end) in a process.
struct Range {
  uint64_t start = 0, end = 0;
};

// Hash (FNV-1a 64) of every readable, writable mapping's contents plus the layout
// of all mappings; bytes inside `exclude` count as zero. Used by tests and tools to
// prove a process unchanged. Exclude the kernel-written rseq areas
// (SeizedProcess::kernel_written_ranges) for programs that registered rseq.
struct MemoryDigest {
  uint64_t hash = 0;
  uint64_t bytes = 0;
  std::vector<sys::Mapping> writable;
};
MemoryDigest digest_writable_memory(pid_t pid, const std::vector<Range>& exclude = {});

}  // namespace ttst::inject
