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
  // Forward only, optional: the library adapters' hooks (library_state.h), run in F.
  // Before the transfer writes or frees [lo, hi) of this process, the library's
  // registrations there are withdrawn (libevent: event_del). `dst_type` != 0: [lo,
  // hi) is one value of the adapter's embedded type (this process's type id), in a
  // global about to be overwritten; 0: a start-up heap object about to be freed.
  void (*library_release)(void* ctx, uint32_t adapter, uint64_t lo, uint64_t hi, uint32_t dst_type) = nullptr;
  // A value of an adapter's embedded type (libevent: struct event) was written at
  // `dst` from the source's bytes `src` (the copy); types of both sides given;
  // `name` says where it is in the source ("heap object #7 (...).ev"; scratch
  // memory that lives as long as the transfer's).
  void (*library_embedded)(void* ctx, uint32_t adapter, uint64_t dst, const uint8_t* src, uint32_t src_type,
                           uint32_t dst_type, const char* name) = nullptr;
  // A pointer to one of the library's own objects (an adapter's handle type:
  // libevent's struct event_base) held `src` in the source and keeps `dst` here.
  void (*library_handle)(void* ctx, uint32_t adapter, uint64_t src, uint64_t dst) = nullptr;
  // Optional: v1's executable's initial bytes at link address `link_addr` (forward
  // the source's, backward this process's; its ELF initializer, zeros past a
  // segment's file part) into buf;
  // returns how many came from the file, or < 0 when unknown (elf_initial.h).
  // Globals still equal to it take this process's start-up value (keep_new).
  long (*read_initial)(void* ctx, uint64_t link_addr, void* buf, uint64_t len) = nullptr;
  // Forward only, optional: announces that `alloc` is about to be called for about
  // `bytes` in all (the runtime's __ttst_transfer_reserve: a large transfer's heap
  // grown ahead on huge pages).
  void (*reserve)(void* ctx, uint64_t bytes) = nullptr;
  // Forward only, optional: announces, before typing, about how many bytes `alloc`
  // will be called for (the source's heap): the runtime's
  // __ttst_transfer_reserve_ahead grows F's heap for them now, and the agent's
  // helper thread faults the new pages in while the engine types. Called with 0
  // once the allocations are over (the steps not needed are freed).
  void (*reserve_ahead)(void* ctx, uint64_t bytes) = nullptr;
  // Backward only, optional: reads `len` bytes of this process at `addr` into `buf`
  // without touching its pages through their mapping (/proc/self/mem): returns the
  // bytes read, fewer at the end of a mapping, < 0 when `addr` is unmapped. Then R's
  // heap is read through a window of it (engine_own_memory.cc).
  long (*read_own)(void* ctx, uint64_t addr, void* buf, uint64_t len) = nullptr;
  // Optional: starts fn(arg) on another thread of this process (the agent's helper,
  // on the machine's other CPU) and returns true, or returns false (fn not run: the
  // caller does the work alone). beside_wait returns once fn has returned. While fn
  // runs, the engine calls the callbacks above from both threads, one at a time.
  bool (*beside)(void* ctx, void (*fn)(void* arg), void* arg) = nullptr;
  void (*beside_wait)(void* ctx) = nullptr;
  // Optional: scratch memory of `size` bytes of which only the first `filled` are
  // written now, the rest room a later run may take (a kept table's): the agent
  // faults in only those. NULL: scratch.
  void* (*scratch_room)(void* ctx, uint64_t size, uint64_t filled) = nullptr;
  // Scratch memory comes zeroed (the agent's arena: fresh pages, never reused), so
  // a table that must start empty is not cleared page by page — which would fault
  // its pages in on this thread instead of the helper's.
  bool scratch_zeroed = false;
};

// A library whose objects the program embeds or points to (library_state.h).
struct LibraryAdapter;

struct Config {
  bool backward = false;
  dwarfmeta::image::View src_meta, dst_meta;
  uint64_t src_bias = 0, dst_bias = 0;
  uint64_t src_runtime = 0, dst_runtime = 0;  // run-time addresses of __ttst_runtime
  const Region* regions = nullptr;            // sorted by addr, not overlapping
  uint64_t region_count = 0;
  // Optional: ranges of the regions (sorted, not overlapping; `local` unused) the
  // copy left out as pages the source never touched: zeros, which the copy's pages
  // there read as without being faulted in (small pages: a read of each faults one
  // in). A scan of the whole copy (words_into) skips them. A second run ignores them.
  const Region* zero_ranges = nullptr;
  uint64_t zero_range_count = 0;
  const LibRange* libs = nullptr;  // sorted or not; few
  uint64_t lib_count = 0;
  StringAreas src_strings, dst_strings;  // the source's are in the regions; ours are ours
  // Run-time start of the executable's thread-local block (the main thread's) in
  // the source and here; 0: thread-local globals are not transferred.
  uint64_t src_tls = 0, dst_tls = 0;
  // The other threads' blocks (issue 19), by pairs of the source's thread and its
  // counterpart here: thread_tls[2k] the source's block, thread_tls[2k+1] ours.
  const uint64_t* thread_tls = nullptr;
  uint64_t thread_tls_count = 0;
  // Forward, optional: the other threads' stacks here ([2k, 2k+1): from each one's rsp
  // to the end of its stack mapping), remapped like own_stack (engine_frames.cc).
  const uint64_t* thread_stacks = nullptr;
  uint64_t thread_stack_count = 0;
  // Forward, optional (issue 19): the thread pointers (fs_base) of every pair of
  // threads, the main threads' first ([2k]: the source's, [2k+1]: ours), and the size
  // of glibc's thread descriptor there (struct pthread: its thread-specific data,
  // pthread_getspecific's values, lives in it); 0: not known, not remapped.
  const uint64_t* thread_pointers = nullptr;
  uint64_t thread_pointer_count = 0, thread_descriptor_size = 0;
  // Forward, optional: words the kernel holds for the program (epoll registrations'
  // data, epoll_rebuild.h). Each that points into the state is translated into
  // kernel_out[i]; the others are copied.
  const uint64_t* kernel_words = nullptr;
  uint64_t kernel_count = 0;
  uint64_t* kernel_out = nullptr;
  // The library adapters (library_state.h): their member rules apply to the
  // library's types embedded in the program's state, and pointers to their handle
  // types keep this process's value.
  const LibraryAdapter* const* library_adapters = nullptr;
  uint32_t library_adapter_count = 0;
  char* out = nullptr;  // message buffer
  uint64_t out_size = 0;
  // Forward, optional (engine_frames.cc): this process's stopped thread's stack,
  // [own_stack_lo, own_stack_hi) (its rsp minus the red zone up to the end of the
  // stack mapping), and its rbp at the stop (the frame-pointer chain ttst-cc
  // builds with, for naming frames). 0: the stack is not examined.
  uint64_t own_stack_lo = 0, own_stack_hi = 0, own_frame = 0;
  // Optional (frame_roots.cc): the frames of the peer's and this process's stopped
  // threads (stfw_task.h TTST_STFW_FRAMES_MAGIC): their locals are roots.
  const uint8_t* frames = nullptr;
  uint64_t frames_size = 0;
  // Optional (the agent's view of the source's /proc/PID/maps; 0 / NULL: unknown,
  // such values are refused): the source's brk heap ([heap], all of it the
  // allocator's), and every mapping of the source, sorted by addr (local unused).
  // A pointer value in the heap but in no live block is dead (freed memory); one
  // in no mapping at all is no address: both carried as they are (engine_pointers.cc).
  uint64_t src_heap_lo = 0, src_heap_hi = 0;
  const Region* src_mappings = nullptr;
  uint64_t src_mapping_count = 0;
  // Forward, optional: look for TTST_KEEP_NEW suggestions (Result::keep_new_candidates).
  bool keep_new_candidates = false;
  // Optional: the loaded user transfer plugin's entry (plugin/ttst_xfer.h; the
  // agent's user_plugin.h loads it), 0: none.
  uint64_t plugin_entry = 0;
  // Optional: four words the engine keeps current while it runs (the agent's
  // descriptor's `progress`, agent_abi.h): phase, objects done, objects in all.
  // Shown by the supervisor only.
  volatile uint64_t* progress = nullptr;
  // With Env::beside: the heap objects from which the typing sweep and the write
  // phase run on two threads (engine_parallel_typing.cc, engine_parallel_write.cc;
  // fewer: starting the second costs more than it saves). The result is the same
  // either way.
  uint32_t beside_min = 32768;  // (a second run: an eighth as many objects to write)
  // Pre-copy stage 2 (transfer_delta below): the engine stays after the run, with
  // room in its object table for blocks the source allocates before the second run.
  bool keep = false;
};

// A start-up object of this process that the transfer superseded (forward): its
// base and size, its counterpart (the value a global now holds instead of it;
// 0: none or not unique) and whether it was freed.
struct Superseded {
  uint64_t addr, size, counterpart;
  bool freed;
};

// One register of F's frames the supervisor sets (stfw_task.h TTST_STFW_LOCAL_REGISTER_PREFIX).
struct LocalRegister {
  uint32_t frame, reg;  // F's frame index (innermost 0), DWARF register number
  uint64_t value;
};

struct Result {
  int status = 0;  // TTST_STFW_STATUS_*
  uint64_t objects = 0, bytes = 0, pointers = 0, transforms = 0;
  uint64_t out_used = 0;
  // Per-phase cycle counts (rdtsc) for the benchmark: index, type, map, write.
  uint64_t phase_cycles[4] = {0, 0, 0, 0};
  uint64_t untyped_copied = 0;  // objects copied as bytes by the untyped policy
  uint64_t dead_pointers = 0;   // pointer values into freed heap memory, carried as they are
  uint64_t unmapped_words = 0;  // pointer values in no mapping of the source, carried as they are
  uint64_t integers = 0;        // non-zero integers in TTST_TAGGED pointer members, carried as they are
  uint64_t literals = 0;        // pointers into string literals, mapped by position
  uint64_t freed = 0;           // superseded start-up objects of this process freed
  // Forward: every superseded start-up object (the supervisor remaps F's registers
  // with it and checks F's stack), and the stack words remapped to counterparts.
  const Superseded* superseded = nullptr;
  uint64_t superseded_count = 0;
  // Forward: scalar locals of F's frames held in a callee-saved register, to be set
  // by the supervisor (the agent host restores F's registers): frame_roots.cc.
  const LocalRegister* local_registers = nullptr;
  uint64_t local_register_count = 0;
  uint64_t scalar_locals = 0;   // scalar locals of the frames carried (forward) or checked (backward)
  uint64_t own_reads = 0;       // backward: refills of the window on R's own heap (engine_own_memory.cc)
  uint64_t type_threads = 1;    // threads that swept the heap typing it (engine_parallel_typing.cc)
  uint64_t write_threads = 1;   // threads that wrote the objects (engine_parallel_write.cc)
  uint64_t written_beside = 0;  // objects the second one wrote
  uint64_t frame_words = 0;
  uint64_t frame_roots = 0;     // pointer locals of the source's frames used as typing roots (frame_roots.cc)
  uint64_t carved = 0;          // typed sub-objects carved in containers (also in `objects`)
  // Heap elements and sub-objects typed or written member by member (no compiled plan
  // for their types, or one that could not decide): the slow path, for each mode.
  uint64_t walked = 0;
  uint64_t containers = 0;      // carved containers (slab pages, pool blocks)
  uint64_t container_free = 0;  // bytes of containers in no sub-object: free memory, not state
  uint64_t kept = 0;            // TTST_KEEP_NEW: values of the source's kept graph paired with this process's
  uint64_t kept_unpaired = 0;   // and those without a counterpart (pointers into them are refused)
  uint64_t untouched = 0;       // globals still equal to v1's ELF initializer: v2's start-up value kept
  // Forward: suggestions for TTST_KEEP_NEW, the source's global indices (metadata)
  // of globals whose graph v2's start-up built again, longer (engine_keep_new_candidates.cc).
  const uint32_t* keep_new_candidates = nullptr;
  uint64_t keep_new_candidate_count = 0;
  uint64_t plugin_calls = 0;    // calls of user transfer functions (engine_plugin.cc)
  // Lines for the result (stfw_task.h: "unvalidated TARGET N"), NUL-separated.
  const char* plugin_lines = nullptr;
  uint64_t plugin_lines_size = 0;
  // The engine's scratch memory by phase (bytes asked of Env::scratch): index (with
  // the object table, `arena_table` of it), type, map, write. The agent prints them.
  uint64_t arena_phase[4] = {0, 0, 0, 0};
  uint64_t arena_table = 0;
};

// Runs one transfer. Never throws; on failure the message is in cfg.out.
// With cfg.keep and `kept`, a successful forward run leaves *kept set to the engine,
// for transfer_delta; what cfg's pointers reach, env and the scratch memory must
// then outlive it (nothing is freed: the scratch is the agent's arena).
struct KeptEngine;
Result transfer(const Config& cfg, const Env& env, KeptEngine** kept = nullptr);

// Pre-copy stage 2 (stfw/README.md "A second run on the same state"): the source
// was a snapshot S of the program; the program went on and changed some of its
// pages. The second run patches them into the copy (the regions' bytes) and
// transfers again only what they hold: the objects on them re-written, the blocks
// allocated since added (typed from the changed pointers, allocated here), those
// freed since released here (Env::release), the frames' scalar locals settled again.
// What it does not follow (a block of the first run typed otherwise now, a pointer
// local of the frames changed, carved containers, user transfer code, library
// types, KEEP_NEW, threads...) it refuses with TTST_STFW_STATUS_DELTA_REFUSED,
// before it allocates or writes anything here where it can: the caller discards
// this process either way and transfers everything again into a fresh one.
// Backward (in the first run's R, into which the caller copied the
// program's changed pages): the source is F after its second run, patched with the
// pages that run wrote; the objects whose counterparts lie on own_ranges (the
// pages the caller copied) are written again from F too.
struct SourcePatch {
  uint64_t addr, size;   // a changed range of the source, inside one region
  const uint8_t* bytes;  // its bytes now
};
struct Delta {
  const SourcePatch* patches = nullptr;  // sorted by addr, not overlapping
  uint64_t patch_count = 0;
  // Backward: [lo, hi) pairs, sorted, of this process written since the first run.
  const uint64_t* own_ranges = nullptr;
  uint64_t own_ranges_count = 0;
  // The source's brk heap grew to here (the caller grew its region's copy: a
  // patch covers the new part); 0: it did not.
  uint64_t src_heap_hi = 0;
  // The frames at the program's stop now (Config::frames); NULL: the first run's.
  const uint8_t* frames = nullptr;
  uint64_t frames_size = 0;
  bool last = false;    // no run follows: nothing is kept for one (Engine::fold_delta)
  char* out = nullptr;  // message buffer
  uint64_t out_size = 0;
};
Result transfer_delta(KeptEngine* kept, const Delta& delta);

}  // namespace ttst::stfw

#endif
