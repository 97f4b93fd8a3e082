// engine.h — the state transfer engine (UNTRUSTED, freestanding C++): rebuilds the
// source process's state in this process, in this process's types.
//
// Forward (in F, source P): every global of P whose state ID exists in v2 is
// transformed into F's global; every heap object of P is allocated in F with F's
// allocator (the runtime's __ttst_transfer_alloc, which records v2's site and
// origin_id = P's dyn_id) and transformed into it. Backward (in R, source F): F's
// objects map onto R's existing ones (R's dyn_id == F's origin_id), and only the
// bytes a mapping covers are written (zeroed first, so a missing write shows up).
//
// Pure parts (type walk, pointer translation) touch memory only through the
// source regions and local pointers, so the engine also runs on the host (tests).
// No libc, no exceptions, no RTTI; all memory comes from Env::scratch.
#ifndef TTST_STFW_XFER_ENGINE_H
#define TTST_STFW_XFER_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "dwarfmeta/image.h"

namespace ttst::stfw {

// A copy of one range of the source process's memory.
struct Region {
  uint64_t addr, size;
  const uint8_t* local;
};

// A shared library of the source process and where the same file is mapped in
// this process (libraries.h); dst_start 0: not mapped here, or a different file.
// twin_start: where this process maps a different file at the same path (the
// library was upgraded on disk): pointers then go by symbol (Env::library_symbol).
struct LibRange {
  uint64_t src_start, src_end, dst_start;
  const char* path;
  uint64_t twin_start = 0;
};

// Where a process's argument and environment strings are ([lo, hi) of each, as in
// /proc/PID/stat): the program may keep pointers to them (argv[0], getenv()).
struct StringAreas {
  uint64_t args_lo = 0, args_hi = 0, env_lo = 0, env_hi = 0;
};

struct Env {
  // Scratch memory (never freed individually); NULL when exhausted.
  void* (*scratch)(void* ctx, uint64_t size);
  // Reads up to `len` bytes of the source at `addr` that are NOT in the regions
  // (read-only data: string literals). Returns bytes read (<= 0: unreadable).
  long (*read_source)(void* ctx, uint64_t addr, void* buf, uint64_t len);
  // Forward only: allocates `size` zeroed bytes in this process with the program's
  // allocator, recording `site` (run-time return address) and `origin_id`.
  uint64_t (*alloc)(void* ctx, uint64_t size, uint64_t site, uint64_t origin_id);
  void* ctx;
  // Forward only, optional: frees a block of the program's start-up state that the
  // transfer superseded (the runtime's __ttst_transfer_free).
  void (*release)(void* ctx, uint64_t addr) = nullptr;
  // Optional: for a pointer into a library with a twin (LibRange::twin_start), or
  // into the source's executable outside every object (`lib` NULL: a variable
  // copy-relocated from a library), the same symbol and offset here, or 0;
  // `symbol` receives the source's symbol name ("" if none) for messages.
  uint64_t (*library_symbol)(void* ctx, const LibRange* lib, uint64_t v, char* symbol, uint64_t cap) = nullptr;
};

struct Config {
  bool backward = false;
  dwarfmeta::image::View src_meta, dst_meta;
  uint64_t src_bias = 0, dst_bias = 0;
  uint64_t src_runtime = 0, dst_runtime = 0;  // run-time addresses of __ttst_runtime
  const Region* regions = nullptr;            // sorted by addr, not overlapping
  uint64_t region_count = 0;
  const LibRange* libs = nullptr;  // sorted or not; few
  uint64_t lib_count = 0;
  StringAreas src_strings, dst_strings;  // the source's are in the regions; ours are ours
  // Run-time start of the executable's thread-local block (the main thread's) in
  // the source and here; 0: thread-local globals are not transferred.
  uint64_t src_tls = 0, dst_tls = 0;
  // Forward, optional: words the kernel holds for the program (epoll registrations'
  // data, epoll_rebuild.h). Each that points into the state is translated into
  // kernel_out[i]; the others are copied.
  const uint64_t* kernel_words = nullptr;
  uint64_t kernel_count = 0;
  uint64_t* kernel_out = nullptr;
  char* out = nullptr;  // message buffer
  uint64_t out_size = 0;
};

struct Result {
  int status = 0;  // TTST_STFW_STATUS_*
  uint64_t objects = 0, bytes = 0, pointers = 0, transforms = 0;
  uint64_t out_used = 0;
  // Per-phase cycle counts (rdtsc) for the benchmark: index, type, map, write.
  uint64_t phase_cycles[4] = {0, 0, 0, 0};
  uint64_t untyped_copied = 0;  // objects copied as bytes by the untyped policy
  uint64_t freed = 0;           // superseded start-up objects of this process freed
  uint64_t carved = 0;          // typed sub-objects carved in containers (also in `objects`)
  uint64_t containers = 0;      // carved containers (slab pages, pool blocks)
  uint64_t container_free = 0;  // bytes of containers in no sub-object: free memory, not state
};

// Runs one transfer. Never throws; on failure the message is in cfg.out.
Result transfer(const Config& cfg, const Env& env);

}  // namespace ttst::stfw

#endif
