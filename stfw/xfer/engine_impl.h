// engine_impl.h — the state transfer engine's internals (UNTRUSTED, freestanding
// C++), shared by the files that implement its phases; only engine.h is its API.
//   engine_types.cc      type facts: sizes, pointers, flat layouts, counterparts
//   engine_index.cc      the object table: globals, the source's heap walk, lookups
//   engine_typing.cc     typing heap objects from typed pointers and sites
//   engine_type_plan.cc  the typing fast path: elements typed by their compiled plans
//   engine_plans.cc      compiled element plans (the fast path of the walk)
//   engine_transform.cc  the walk: members, arrays, scalars, bitfields, unions
//   engine_pointers.cc   pointer translation (objects, functions, strings, libraries)
//   engine_mapping.cc    where each object goes: allocated in F / found in R
//   engine_containers.cc carved containers: slab pages / pool blocks and their sub-objects
//   engine_free.cc       free memory declared by its holders (TTST_FREE_SLOTS, TTST_FREE_LIST)
//   engine_writing.cc    writing, superseded start-up objects, kernel-held words
//   engine_values.cc     values in pointer members: tagged unions, mixed members, return-type typing
//   engine.cc            transfer(): runs the phases
#ifndef TTST_STFW_XFER_ENGINE_IMPL_H
#define TTST_STFW_XFER_ENGINE_IMPL_H

#include "stfw/abi/ttst_heap_reader.h"
#include "stfw/stfw_task.h"
#include "stfw/xfer/address_hash.h"
#include "stfw/xfer/annotations.h"
#include "stfw/xfer/engine.h"
#include "stfw/xfer/message.h"
#include "stfw/xfer/plugin/ttst_xfer.h"
#include "stfw/xfer/string_literals.h"

namespace ttst::stfw::engine_detail {

using dwarfmeta::image::ImageGlobal;
using dwarfmeta::image::ImageMember;
using dwarfmeta::image::ImageType;
using dwarfmeta::image::View;
using stfw::Message;

// dwarfmeta's TypeKind and Encoding (dwarfmeta/model.h), as stored in the image.
enum Kind : uint8_t {
  kVoid = 0,
  kBase = 1,
  kStruct = 2,
  kUnion = 3,
  kEnum = 4,
  kPointer = 5,
  kArray = 6,
  kTypedef = 7,
  kConst = 8,  // qualifiers, 8..11: `target` is the qualified type
  kVolatile = 9,
  kRestrict = 10,
  kAtomic = 11,
  kFunc = 12
};
inline bool is_qualifier(uint8_t kind) { return kind >= kConst && kind <= kAtomic; }
enum Enc : uint8_t { eSigned = 1, eUnsigned = 2, eSChar = 3, eUChar = 4, eBool = 5, eFloat = 6 };

inline uint64_t rdtsc() {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t(hi) << 32) | lo;
}

inline void copy(void* d, const void* s, uint64_t n) {
  if (n >= 256) {  // long runs: the string instruction (ERMS)
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return;
  }
  uint8_t* dd = static_cast<uint8_t*>(d);
  const uint8_t* ss = static_cast<const uint8_t*>(s);
  while (n >= 8) {
    uint64_t w;
    __builtin_memcpy(&w, ss, 8);
    __builtin_memcpy(dd, &w, 8);
    dd += 8, ss += 8, n -= 8;
  }
  while (n--) *dd++ = *ss++;
}
inline void zero(void* d, uint64_t n) {
  if (n >= 256) {
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(0) : "memory");
    return;
  }
  uint8_t* dd = static_cast<uint8_t*>(d);
  while (n >= 8) {
    uint64_t w = 0;
    __builtin_memcpy(dd, &w, 8);
    dd += 8, n -= 8;
  }
  while (n--) *dd++ = 0;
}
inline uint64_t load_uint(const uint8_t* p, uint64_t n) {
  uint64_t v = 0;
  for (uint64_t i = 0; i < n && i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}
inline void store_uint(uint8_t* p, uint64_t n, uint64_t v) {
  for (uint64_t i = 0; i < n && i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}
inline bool streq(const char* a, const char* b) { return View::compare(a, b) == 0; }
// A frame place (dwarfmeta FramePlace): one piece of a composite (DW_OP_piece)
// local (kinds 4-7), and whether it is valid at link-time pc `at`.
inline bool place_is_piece(const dwarfmeta::image::ImageFramePlace& p) { return p.kind >= 4 && p.kind <= 7; }
inline bool place_valid_at(const dwarfmeta::image::ImageFramePlace& p, uint64_t at) {
  return (p.pc_low == 0 && p.pc_high == 0) || (at >= p.pc_low && at < p.pc_high);
}

// Object::flags: a global (else a heap object), read-only data, queued for typing,
// allocated inside a library (not transferred), and for globals the annotation's Rule.
// Heap objects: a carved container (TTST_CONTAINER / TTST_SLAB), or a sub-object
// carved in one (not a heap block: it lives and moves with its container).
constexpr uint32_t kGlobal = 1u << 30, kReadonly = 1u << 29, kQueued = 1u << 28, kFromLibrary = TTST_HEAP_F_FROM_LIB;
constexpr uint32_t kContainer = 1u << 27, kCarved = 1u << 26;
constexpr uint32_t kFreeSlots = 1u << 23;  // a heap array of pointers to free slots (TTST_FREE_SLOTS_N)
constexpr uint32_t kHoldsContainers = 1u << 22;  // a heap array of pointers to containers (slab_list)
// Heap objects a TTST_XFER_OWNS member points to (engine_plugin.cc): the plugin's;
// claimed: the plugin created (forward) or asked for (backward) its destination.
constexpr uint32_t kOwned = 1u << 20, kOwnedClaimed = 1u << 19;
constexpr uint32_t kMisfitView = 1u << 18;  // reached by a struct pointer whose size does not divide it (inheritance.h)
constexpr uint32_t kNoChunk = 0xffffffffu;
// A carved sub-object's dst_global when it maps through itself: a plugin function writes
// it in another layout, or placed it elsewhere (engine_plugin_place.cc).
constexpr uint32_t kCarvedOwnPlace = 0xfffffffeu;
struct PlaceRange {  // a destination range and its object (engine_plugin_place.cc)
  uint64_t addr, size;
  uint32_t index;
};
// TTST_KEEP_NEW (engine_keep_new.cc): the object is part of the source's kept graph
// (or the kept global itself): neither allocated nor written; pointers into it go
// to its counterpart in this process's graph.
constexpr uint32_t kKept = 1u << 21;
// A heap block a transferred pointer global or a non-root member of a KEEP_NEW_AT
// struct points to (engine_keep_new.cc): run-time state, never taken into the kept graph.
constexpr uint32_t kTransferAnchor = 1u << 17;
// A transferred container whose first value is kept and paired with the first value
// of a block of this process (engine_keep_into.cc): the container goes into that block.
constexpr uint32_t kIntoCounterpart = 1u << 16;
// Backward: a block of F's own start-up (origin_id 0, not a library's), not one the
// forward transfer allocated (engine_mapping.cc: unreached, it is v2's garbage).
constexpr uint32_t kOwnStartup = 1u << 12;
// Two-thread typing (engine_parallel_typing.cc): a thread has taken the object's
// walk (cleared when the sweep ends).
constexpr uint32_t kWalkClaimed = 1u << 13;
// A second run (engine_delta.cc): the object's bytes changed since the first run
// (or it is new), to be written again; its block was freed since (released here).
constexpr uint32_t kDeltaChanged = 1u << 15, kDeltaGone = 1u << 14;
constexpr uint32_t kRuleShift = 24, kRuleMask = 3u << kRuleShift;  // globals: the annotation's Rule
constexpr uint64_t kDescSize = sizeof(ttst_heap_desc);
constexpr uint64_t kIndexTag = 0x7474737400000000ull;  // "tsst" << 32 | object index

// One of F's own start-up heap objects (forward). Superseded: a global's pointer to
// it was overwritten; counterpart: what that global holds now (the same for every
// overwrite, else `conflicting`). By thread: the counterpart is the one a thread's
// descriptor gave (pthread_getspecific's value paired with P's thread's), which
// outranks the globals' and frames' (engine_frames.cc).
struct StartupObject {
  uint64_t addr, size, counterpart;
  bool superseded, conflicting, freed, by_thread;
  uint32_t global;  // the destination global whose pointer first superseded it (0xffffffff: none known)
};

// One entry of the object table: a global or heap object of the source and where it goes.
// 56 bytes, one per object (3 M at bankserver's 1 M accounts): a heap object's dyn_id
// and run-time site are not repeated here but read from its descriptor in the copy
// (Engine::dyn_id_of, site_of).
struct Object {
  uint64_t addr, size;          // in the source
  uint64_t dst_addr, dst_size;  // in this process (0: not mapped yet, or no counterpart)
  uint32_t src_type, dst_type;  // globals: the whole type; heap objects: the element type
  uint32_t flags;
  uint32_t src_global, dst_global;  // globals: index in the source's / destination's metadata;
                                    // a container's src_global: its chunk size (kNoChunk);
                                    // a carved sub-object's: its container's index
  uint32_t used_plus1;              // heap arrays under TTST_USED_N: 1 + the elements in use (0: all)
};

struct BesideShare;  // engine_beside.h

class Engine {
 public:
  Engine(const Config& config, const Env& env) : config_(config), env_(&env), message_{config.out, config.out_size} {}

  // A second run on the same state (engine_delta.cc, engine.h transfer_delta).
  Result run_delta(const Delta& delta);

  Result run() {
    uint64_t t0 = rdtsc();
    note_progress(2 /* index */, 0);
    if (!index_objects() || !resolve_library_rules() || !resolve_plugin()) return finish();
    if (env_->read_initial) keep_untouched_globals();  // engine_keep_new.cc
    uint64_t t1 = rdtsc();
    arena_at_[0] = arena_bytes_;
    if (env_->reserve_ahead && !config_.backward) reserve_future_heap();  // engine_mapping.cc
    note_progress(3 /* type */, object_count_);
    if (!type_objects() || !type_library_containers()) return finish();
    if (annotations_.has_keep_new() && !pair_kept_graphs()) return finish();
    if (config_.keep_new_candidates && !config_.backward) find_keep_new_candidates();  // suggestions (engine_keep_new_candidates.cc)
    settle_mixed_members();
    uint64_t t2 = rdtsc();
    arena_at_[1] = arena_bytes_;
    note_progress(4 /* map */, object_count_);
    if (!map_objects()) return finish();
    uint64_t t3 = rdtsc();
    arena_at_[2] = arena_bytes_;
    note_progress(5 /* write */, object_count_);
    write_objects();
    if (!failed() && kept_count_) finish_kept_write();  // engine_keep_new.cc
    if (!failed()) settle_frame_roots();
    if (!failed()) settle_scalar_locals();
    if (!failed() && !config_.backward && kept_count_) keep_kept_partners();  // engine_keep_new.cc
    if (!failed() && !config_.backward) remap_own_frames();
    if (!failed() && !config_.backward) free_superseded();
    if (!failed() && !config_.backward) list_superseded();
    if (!failed() && !config_.backward) translate_kernel_words();
    uint64_t t4 = rdtsc();
    arena_at_[3] = arena_bytes_;
    result_.phase_cycles[0] = t1 - t0;  // index
    result_.phase_cycles[1] = t2 - t1;  // type
    result_.phase_cycles[2] = t3 - t2;  // map
    result_.phase_cycles[3] = t4 - t3;  // write
    for (int k = 3; k > 0; --k) arena_at_[k] -= arena_at_[k - 1];
    for (int k = 0; k < 4; ++k) result_.arena_phase[k] = arena_at_[k];
    result_.arena_table = uint64_t(object_capacity_) * sizeof(Object);
    if (!failed()) plugin_result();
    if (!failed() && config_.keep) record_frame_roots();  // for a second run (engine_delta.cc)
    return finish();
  }

 private:
  // Progress for the supervisor's lines (agent_abi.h ttst_agent_progress_phase).
  void note_progress(uint64_t phase, uint64_t total) {
    if (!config_.progress) return;
    config_.progress[1] = 0;
    config_.progress[2] = total;
    config_.progress[0] = phase;
  }
  void note_done(uint64_t done) {
    if (config_.progress) config_.progress[1] = done;
  }
  // ---- errors ---------------------------------------------------------------
  Message& fail(int status, const char* what);
  // fail(), then the value being walked: the object (describe_current) and the path.
  void fail_at_current(int status, const char* what);
  bool failed() const { return result_.status != 0; }
  Result finish();
  void clear_refusal();

  template <class T>
  T* alloc(uint64_t n) {
    return static_cast<T*>(counted(env_->scratch(env_->ctx, n * sizeof(T) + 16), n * sizeof(T) + 16));
  }
  // alloc(n), of which only the first `filled` are written now (Env::scratch_room).
  template <class T>
  T* alloc_room(uint64_t n, uint64_t filled) {
    if (!env_->scratch_room) return alloc<T>(n);
    return static_cast<T*>(
        counted(env_->scratch_room(env_->ctx, n * sizeof(T) + 16, filled * sizeof(T) + 16), n * sizeof(T) + 16));
  }
  // Scratch memory `p` of `bytes` asked for: counted, its absence a failure.
  void* counted(void* p, uint64_t bytes) {
    arena_bytes_ += bytes;
    if (!p) fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: the agent's arena is exhausted (give it a larger heap)");
    return p;
  }
  // A second run's scratch that lives only as long as the run (engine_delta.cc):
  // drawn from one block used again by every run, whose pages are then already
  // there (fresh pages cost a fault each, on a VM a host fault too).
  template <class T>
  T* run_alloc(uint64_t n) {
    return static_cast<T*>(run_scratch((n * sizeof(T) + 15) & ~uint64_t{15}));
  }
  void* run_scratch(uint64_t bytes);

  // ---- source memory ----------------------------------------------------------
  const uint8_t* source_bytes(uint64_t addr, uint64_t len) const;
  // A heap object's allocation facts, from its descriptor in the copy (the walk's
  // tags are in prev, next and offset; these fields stay the source's): its
  // run-time allocation site (0: a global or carved sub-object) and dyn_id (a
  // carved sub-object: its container's; a global: 0).
  const ttst_heap_desc* descriptor_of(const Object& o) const {
    if (o.flags & (kGlobal | kCarved)) return nullptr;
    return reinterpret_cast<const ttst_heap_desc*>(source_bytes(o.addr - kDescSize, kDescSize));
  }
  uint64_t site_of(const Object& o) const {
    const ttst_heap_desc* d = descriptor_of(o);
    return d ? d->site : 0;
  }
  uint64_t dyn_id_of(const Object& o) const {
    if (o.flags & kCarved) return dyn_id_of(objects_[o.src_global]);
    const ttst_heap_desc* d = descriptor_of(o);
    return d ? d->dyn_id : 0;
  }
  static const void* read_source_copy(void* ctx, uint64_t addr, uint64_t len) {
    return static_cast<Engine*>(ctx)->source_bytes(addr, len);
  }
  static const void* read_own_memory(void*, uint64_t addr, uint64_t) { return reinterpret_cast<const void*>(addr); }
  // Backward: this process's (R's) own heap read through a window filled by
  // Env::read_own (engine_own_memory.cc), or in place without one.
  const uint8_t* own_bytes(uint64_t addr, uint64_t len);
  bool fill_own_window(uint64_t lo, uint64_t size, uint64_t needed);
  static const void* read_own_descriptor(void* ctx, uint64_t addr, uint64_t len);
  void store_own(uint64_t addr, const uint8_t* image, uint64_t n);

  // ---- types ----------------------------------------------------------------------
  const View& src_meta() const { return config_.src_meta; }
  const View& dst_meta() const { return config_.dst_meta; }
  uint64_t type_size(const View& v, uint32_t t) const;
  // Does the source type hold a pointer the transfer must translate?
  // (Unions holding pointers and intptr_t/uintptr_t values count: both may need
  // an annotation, so their bytes are never copied blindly.)
  bool has_pointer(uint32_t type);
  // intptr_t / uintptr_t (through any typedefs or qualifiers): an integer meant to
  // hold an address.
  static bool is_intptr(const View& v, uint32_t t);
  // Which image is the newer version's: the annotations need to know.
  bool src_newer() const { return config_.backward; }
  bool annotated(uint32_t src_type, uint32_t dst_type) const;
  Rule member_rule(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index) const;
  // Identical layout and no pointer: the bytes are copied as they are.
  bool same_flat(uint32_t src_type, uint32_t dst_type, int depth = 0);
  // The destination type that corresponds to a source type (by name), 0 if none.
  uint32_t counterpart(uint32_t t, int depth = 0);
  const char* type_name(const View& v, uint32_t t) const;

  // ---- object table ------------------------------------------------------------------
  // Phase 2: the table (globals first, then the heap as walked) and its address order.
  bool index_objects();
  bool allocate_memos();
  bool resolve_annotations();
  bool allocate_table();
  void index_globals();
  void index_global(uint32_t global, uint64_t src_tls, uint64_t dst_tls);  // one object (engine_index.cc)
  bool index_heap();
  static int add_heap_object(void* ctx, uint64_t addr, const ttst_heap_desc* desc);
  uint32_t heap_object_flags(const ttst_heap_desc* desc) const;  // a walked block's flags in the table
  // The i-th object in the likely address order: globals, then the heap reversed.
  uint32_t globals_then_oldest(uint32_t i) const;
  bool merge_globals_into_heap_order();
  bool radix_sort_by_address();
  bool merge_out_of_order();  // engine_index.cc, address_order.h
  // The walk chases one link per object; blocks allocated one after another lie at a
  // constant stride, which the hardware prefetchers lose at each page boundary: the
  // descriptor that many steps down the same stride is requested ahead (a hint only,
  // never read here).
  static void walk_ahead(const ttst_heap_desc* desc, const ttst_heap_desc* before);
  ttst_heap_desc* last_walked_ = nullptr;
  bool heap_walk_descending_ = true;
  uint64_t arena_bytes_ = 0, arena_at_[4] = {0, 0, 0, 0};  // scratch asked for, in all and at each phase's end

  // The copy's descriptor of the heap object whose base address is v, or NULL.
  // After indexing, its `prev` holds the object's index, `next` (after mapping) the
  // destination address, `offset` the source type + 1 once typed: the hot paths
  // read one cache line of the copy instead of the object table.
  ttst_heap_desc* base_descriptor(uint64_t v) const;
  void set_dst_in_copy(uint64_t addr, uint64_t dst);
  // The object holding source address v (one past its end counts), or -1.
  int64_t object_holding(uint64_t v) const;

  // The value being transferred: an object of the state, or a word the kernel holds.
  static constexpr uint32_t kKernelWord = 0xffffffffu;
  void describe_current();
  void describe(Message& to, const Object& o);
  void describe_path(Message& to);

  // ---- typing ---------------------------------------------------------------------------
  bool type_objects();
  bool type_by_sites(uint32_t from, uint32_t first_round);
  // A typed object of the same allocation site (memoised per round: one scan of
  // the table per distinct site, not per untyped object); &polymorphic_marker_ when the
  // site's typed objects disagree (an allocation wrapper such as xmalloc: its one
  // site serves every type, so its other objects' types cannot be guessed).
  Object polymorphic_marker_{};  // the sentinel typed_object_of_site returns for such a site
  const Object* typed_object_of_site(uint64_t site);
  bool polymorphic_site(uint64_t site);
  // A site inside an allocation wrapper: a function returning void * (xmalloc), or
  // one the user annotated TTST_ALLOCATOR. Its objects are of whatever type each
  // caller wanted, so neither its typed objects nor dwarfmeta's hint type the rest.
  bool wrapper_site(const dwarfmeta::image::ImageAllocSite& site) const;
  struct SiteTypeSlot {
    uint64_t site;
    uint32_t object, round;  // object: a table index, or one of the two markers
  };
  SiteTypeSlot site_types_[1024] = {};
  uint32_t typing_round_ = 0;
  void queue_for_typing(uint32_t i);
  void type_queued();
  // Runs the walk over every element of an object (heap arrays) or the global.
  void walk_elements(const Object& o, uint8_t* dst);

  struct CompiledPlan;
  // What walk_elements needs per (source, destination) element type, memoised for the
  // last pair (heap objects of one type come in runs).
  struct PairFacts {
    uint32_t src_type, dst_type;
    uint64_t src_size, dst_size;  // element sizes
    bool has_pointer, flat;
    const CompiledPlan* plan;  // NULL: not compilable (or a free list's link in it), the walk does every element
    // The plan for an element known not to be on a free list (carved_by_plan): also
    // one whose type holds a free list's link (CompiledPlan::free_link).
    const CompiledPlan* live_plan;
  };
  // pair_facts is called several times per object while typing: the memo's hit is inline.
  const PairFacts& pair_facts(uint32_t src_type, uint32_t dst_type) {
    const PairSlot& slot = pair_slots_[pair_slot(src_type, dst_type)];
    if (slot.valid && slot.facts.src_type == src_type && slot.facts.dst_type == dst_type) return slot.facts;
    return compute_pair_facts(src_type, dst_type);
  }
  const PairFacts& compute_pair_facts(uint32_t src_type, uint32_t dst_type);

  // Memory-level parallelism for the sweeps over the object table: the random reads
  // are the pointer targets' descriptors (and, while typing, their table entries).
  // They are requested kAhead objects early. While typing, an object ahead may not
  // be typed yet: the layout of its site's last typed object is used (only a hint).
  static constexpr uint32_t kAhead = 8;
  void prefetch_plan_targets(const CompiledPlan& plan, const uint8_t* src, bool deep);
  void prefetch_targets(uint32_t i, bool deep);
  void learn_site_plan(const Object& o);
  struct SitePlan {
    uint64_t site, size;
    const CompiledPlan* plan;
  };
  SitePlan site_plans_[256] = {};
  // pair_facts' memo: direct-mapped by type pair (the table interleaves objects of a
  // few types: an account, its name, its transaction), dropped when the compiled
  // plans are (settle_mixed_members). valid: the slot holds a computed pair.
  struct PairSlot {
    PairFacts facts;
    bool valid;
  };
  static constexpr uint32_t kPairSlots = 256;
  static uint32_t pair_slot(uint32_t src_type, uint32_t dst_type) {
    return uint32_t((((uint64_t(src_type) << 32) | dst_type) * 0x9e3779b97f4a7c15ull) >> 56);  // top 8 bits
  }
  PairSlot pair_slots_[kPairSlots] = {};
  void forget_pair_facts();

  // ---- the typing fast path (engine_type_plan.cc) ---------------------------------------
  // One element typed by its compiled plan, with the walk's decisions (same objects
  // typed, the rest left to the walk) but its per-pointer look-ups memoised:
  // a site's constructor return type, the global a non-heap pointer lands in.
  struct PlanStep;
  bool type_by_plan(const CompiledPlan& plan, const uint8_t* src, uint64_t offset);
  enum StepTyping { kSkip, kWalk, kTypes, kCarves };
  StepTyping plan_step_typing(const PlanStep& step, const uint8_t* src, ttst_heap_desc** target, uint32_t* index);
  StepTyping plan_step_carving(const PlanStep& step, uint64_t v, uint32_t* index);
  void reached_from_plan(uint32_t index, uint64_t offset);
  bool known_elsewhere(uint64_t v) const;
  static uint32_t holding_slot(uint64_t v);
  uint32_t returned_struct_of_site(uint64_t site, uint64_t size);  // site_returned_struct, memoised per site
  int64_t holding_memo(uint64_t v);                                 // object_holding, memoised per value
  void prefetch_typing_targets(const CompiledPlan& plan, const uint8_t* src);  // desc read: table + parent link
  void forget_typing_memos();
  bool typing_walk_empty(const Object& o);  // walk_elements would type nothing: not pushed
  void prefetch_queued(uint32_t size);  // the typing stack's look-ahead
  void prefetch_object(uint32_t i);     // the typing sweep's first stage: a sub-object's bytes
  struct ReturnedSlot {
    uint64_t site;  // run-time site + 1 (0: empty)
    uint32_t pointee;  // site_returned_pointee (0: none)
  };
  ReturnedSlot returned_struct_memo_[256] = {};
  struct HoldingSlot {
    uint64_t v;  // the value + 1 (0: empty)
    int64_t index;
  };
  HoldingSlot holding_memo_[64] = {};

  // ---- compiled element plans: the walk of a type pair flattened once into byte
  // copies and pointer slots, applied per element without recursion. Anything the
  // fast path does not handle (bitfields, enums, conversions, pointers that are not
  // NULL or a mapped object's base) falls back to the walk for that element, which
  // redoes it all and names what is wrong.
  // kStepInt (engine_plans.cc): an integer converted (widened, narrowed, signedness):
  // size = the destination's bytes, src_pointee = the source's, dst_pointee = kInt* bits.
  // kStepChars: a char array copied as kStepCopy, but a word in it that could point
  // into the state sends the element to the walk (engine_data_words.cc checks it there).
  enum StepKind : uint32_t { kStepCopy = 0, kStepPointer = 1, kStepInt = 2, kStepChars = 3 };
  static constexpr uint32_t kIntSrcSigned = 1, kIntDstSigned = 2, kIntConverts = 4;
  struct PlanStep {
    uint32_t kind;  // StepKind
    uint32_t size;
    uint32_t src_offset, dst_offset;
    uint32_t src_pointee, dst_pointee;  // pointer: stripped source pointee, destination pointee (typing)
    uint64_t pointee_size;              // pointer: the pointee's size when it can type an object, else 0
  };
  struct CompiledPlan {
    uint32_t step_count;
    bool free_link;  // a step is a free list's link: only for an element known not on the list
    PlanStep steps[48];
  };
  bool compile_plan(uint32_t src_type, uint32_t dst_type, uint32_t src_offset, uint32_t dst_offset, CompiledPlan& out,
                    int depth);
  const CompiledPlan* compiled_plan(uint32_t src_type, uint32_t dst_type);
  // False when an element needs the walk (see above); it is then redone by the walk.
  bool apply_plan(const CompiledPlan& plan, const uint8_t* src, uint8_t* dst);
  bool compile_int_step(const ImageType& src_ty, const ImageType& dst_ty, uint32_t src_offset, uint32_t dst_offset,
                        CompiledPlan& out);
  bool compile_pointer_step(uint32_t src_target, uint32_t dst_target, uint32_t src_offset, uint32_t dst_offset,
                            CompiledPlan& out);
  bool compile_members(uint32_t src_type, uint32_t dst_type, const ImageType& src_ty, const ImageType& dst_ty,
                       uint32_t src_offset, uint32_t dst_offset, CompiledPlan& out, int depth);
  bool apply_int_step(const PlanStep& step, const uint8_t* src, uint8_t* dst);
  int64_t plan_global(const PlanStep& step, uint64_t v, bool memo);
  bool plan_pointer_elsewhere(const PlanStep& step, uint64_t v, uint8_t* dst);

  // ---- the walk: typing, zeroing or writing one value of type src_type into dst_type ----------------
  enum Mode { kType, kZero, kWrite };
  // How deep the engine follows one value: members and array elements (the walk,
  // interior pointers), and chains of unnamed pointer, array and qualifier types
  // (counterparts, flat layouts). Deeper is refused by name (refuse_too_deep), never
  // cut off: a cut-off would leave what lies below untransferred or point at the
  // wrong place. The walk's recursion is bounded by it (the agent's stack).
  static constexpr uint32_t kMaxNesting = 64;
  struct PathEntry {
    const char* name;
    uint64_t index;
    uint32_t holder_type = 0, holder_index = 0;  // a member (name set by walk_struct): its struct and index
  };

  void violation(const char* what);
  // A value nested deeper than kMaxNesting: refused (AMBIGUOUS), naming the value
  // being walked and `what` lies too deep, never transferred partly.
  void refuse_too_deep(const char* what);

  void walk(uint32_t src_type, uint32_t dst_type, const uint8_t* src, uint8_t* dst);
  void walk_union(uint32_t src_type, uint32_t dst_type, const uint8_t* src, uint8_t* dst);
  // glibc's pthread locks in the state (engine_locks.cc, issue 19).
  enum LockKind { kNoLock = 0, kMutexLock, kCondLock, kRwLock };
  int lock_kind(const View& meta, uint32_t type) const;
  void transfer_lock(int kind, const uint8_t* src, uint8_t* dst, uint64_t size);
  void limit_used(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index,
                  const uint8_t* struct_src);
  bool dead_or_unmapped(uint64_t v);
  bool in_source_mapping(uint64_t v) const;  // a mapping of the source holds v
  bool declared_pointer(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index,
                        const uint8_t* src, uint8_t* dst);
  void walk_struct(uint32_t src_type, uint32_t dst_type, const uint8_t* src, uint8_t* dst);
  void walk_array(const ImageType& src_ty, const ImageType& dst_ty, const uint8_t* src, uint8_t* dst);
  // Members matched by name (added members keep the destination's value, dropped
  // ones vanish), computed once per (source type, destination type):
  // [n, src index, dst index, ...].
  const uint32_t* member_plan(uint32_t src_type, uint32_t dst_type, const ImageType& src_ty, const ImageType& dst_ty);
  // A v1 member dropped while v2 adds one of the same type to the struct (neither
  // matched in `pairs`): a suspected rename, refused (AMBIGUOUS, true) unless
  // TTST_DROPPED names the v1 member (engine_types.cc).
  bool suspected_rename(uint32_t src_type, uint32_t dst_type, const uint32_t* pairs);
  bool same_declared_type(uint32_t src_t, uint32_t dst_t, int depth) const;
  void name_declared_type(Message& m, const View& v, uint32_t t) const;
  // The destination's run-time site for a source site (same site ID), cached.
  uint64_t dst_site(uint64_t src_site);

  // A global or member the user annotated (annotations.h).
  void transfer_annotated(Rule rule, const uint8_t* src, uint64_t src_size, uint8_t* dst, uint64_t dst_size);
  // Does this word hold the address of something the transfer moves (an object of
  // the state, a function, a string literal)?
  bool looks_like_pointer(uint64_t v);
  const LibRange* library_holding(uint64_t v) const;

  void refuse_kind_change(uint32_t src_type, uint32_t dst_type);

  void bitfield(const ImageMember& src_member, const ImageMember& dst_member, const uint8_t* src, uint8_t* dst);
  static bool fits(int64_t v, bool v_signed, uint64_t bits, bool dst_signed);

  void scalar(uint32_t src_type, uint32_t dst_type, const uint8_t* src, uint8_t* dst);

  // ---- pointers -----------------------------------------------------------------------------
  void pointer(const ImageType& src_ty, const ImageType& dst_ty, const uint8_t* src, uint8_t* dst);

  // Destination offset of source offset `off` inside a value of type src_type/dst_type.
  bool map_offset(uint32_t src_type, uint32_t dst_type, uint64_t off, uint64_t* out, int depth = 0);

  bool translate(uint64_t v, uint64_t* out);
  bool translate_into_object(uint64_t v, const Object& o, uint64_t* out);
  bool translate_function(const dwarfmeta::image::ImageFunction& function, uint64_t* out);
  bool translate_into_library(uint64_t v, const LibRange& lib, uint64_t* out);
  // A pointer into the source's argument or environment strings: the same string of
  // this process (arguments: the same position too), at the same offset.
  bool process_string(uint64_t v, uint64_t lo, uint64_t hi, bool args, uint64_t* out);
  static bool program_name(const char* here, uint64_t n, const char* there, uint64_t len, uint64_t at, uint64_t* out);
  void target_missing(uint64_t v, const Object& o);
  bool string_literal(uint64_t v, uint64_t* out);
  // Both versions' read-only data for string_literal (the source's copied once).
  bool literal_spaces();
  LiteralSpace literal_src_, literal_dst_;
  bool literals_ready_ = false;

  // ---- carved containers (engine_containers.cc) ----------------------------------------------
  // Typing runs in passes: a pass that declares new containers (a holder member or
  // global walked) is discarded and typing runs again with them known from the
  // start, with room in the table for the sub-objects (appended after the heap).
  bool type_pass();
  // The typing sweep on two threads (engine_parallel_typing.cc): false when not
  // (nothing typed then: the caller sweeps on this thread).
  bool type_sweep_beside();
  static void type_worker_main(void* engine);
  void type_chunks_beside();
  void drain_beside();
  void hand_over_if_hungry(BesideShare* s);
  void type_beside(uint32_t i);
  void defer(uint32_t i);
  bool type_plain_beside(uint32_t i);
  bool type_by_plan_beside(const CompiledPlan& plan, const uint8_t* src, uint64_t offset);
  void prefetch_queued_object(uint32_t i, bool deep);
  void walk_deferred(const Engine& holder);
  uint32_t sweep_end_ = 0;  // two threads: this thread's chunk ends here (the sweep meets [sweep_position_, sweep_end_))
  uint32_t* deferred_ = nullptr;  // objects the fast path left to the walk
  uint32_t deferred_count_ = 0, deferred_capacity_ = 0;
  bool typed_beside_ = false;       // this pass's sweep ran on two threads
  bool typing_beside_off_ = false;  // typing again on one thread (a refusal's message)
  bool prepare_carving();
  void reset_typing();
  // Globals holding containers (annotated, or with annotated members) before typing.
  void declare_in_globals();
  // Blocks of a header wrapper (TTST_HEADER_WRAPPER): containers whose dst_global
  // holds the header's size; the object the wrapper returned is their sub-object.
  void declare_header_blocks();
  bool finish_header_blocks(const uint8_t* has_payload);
  void declare_in_value(uint32_t type, const uint8_t* src, int depth);
  // walk_struct's hook (typing): member src_index of src_type holds containers?
  void declare_in_member(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index,
                         const uint8_t* struct_src);
  void declare_holder(const ImageType& sty, uint32_t index, const char* chunk_name, const char* count_name,
                      const uint8_t* struct_src);
  static const char* member_name(const View& meta, const ImageType& ty, int64_t index);
  // `limit`: how many elements of the first array of pointers hold containers.
  void mark_containers(uint32_t type, const uint8_t* src, uint64_t chunk, uint64_t limit, int depth);
  // pointer()'s hooks (typing): a T * at a heap block's base, T declared a container
  // type (TTST_CONTAINER(T, ...)), declares it; v, of stripped pointee type
  // src_pointee, points into container `index`.
  bool container_pointee(uint32_t src_pointee, uint32_t dst_pointee) const;
  void declare_by_type(Object& o, uint32_t src_pointee, uint32_t dst_target);
  void declare_behind_interior(const Object& o, uint64_t v, uint32_t src_pointee);
  bool embeds(uint32_t outer, uint64_t off, uint32_t inner, int depth);
  void drop_embedded_sub_objects();
  void declare_by_type_in_value(uint32_t type, const uint8_t* src, int depth);
  void carve(uint32_t index, uint64_t v, uint32_t src_pointee, uint32_t dst_pointee);
  void carve_new(uint32_t index, uint64_t v, uint32_t src_pointee, uint32_t dst_pointee);  // nothing carved at v yet
  uint32_t carved_dst_type(uint32_t src_pointee, uint32_t dst_pointee);
  void carve_embedded(const Object& o, const uint8_t* src);  // TTST_EMBEDDED (engine_embedded.cc)
  // A data word that is the only way to an unheld chunk or an unreached object (engine_data_words.cc).
  bool refuse_data_pointer(const Object& o, uint64_t from);
  int lost_target(uint64_t w, int64_t* holder);
  bool refuse_char_array_pointer(uint32_t src_type, const uint8_t* src);
  bool chars_may_point(const uint8_t* src, uint64_t n) const;
  bool char_array(uint32_t type) const;
  uint64_t flexible_start(uint32_t type) const;  // engine_containers.cc
  // Known text in containers (engine_text_runs.cc): a char pointer with a length.
  bool char_pointee(uint32_t src_pointee) const;
  void note_text(uint32_t index, uint64_t v);
  void note_text_length(uint64_t p, uint64_t n, uint32_t holder_pointee);
  void sort_texts();
  bool holds_text(uint64_t word) const;
  struct Text {
    uint64_t start, end;
  };
  Text* texts_ = nullptr;  // typing: known text ranges (after sort_texts: sorted, merged)
  uint32_t text_count_ = 0, text_capacity_ = 0;
  bool refuse_in_free_part(const Object& o, uint64_t free_from);  // engine_free.cc (TTST_FREE_UPTO)
  uint64_t text_at_ = 0, text_length_ = 0;  // typing: the length a TTST_USED_N sibling gives the next text
  void name_text_marks(const Object& o, uint64_t from, uint64_t to);
  static constexpr uint32_t kTextMarks = 64;
  uint64_t text_marks_[kTextMarks];  // typing: char pointers' targets in containers, no length known
  uint32_t text_mark_count_ = 0;
  int64_t carved_at(uint64_t addr) const;
  // After typing: sub-objects sorted, their extents (chunk, next sub-object, end), checks.
  bool finish_carving();
  bool sort_carved();
  bool refuse_tail_pointer(const Object& o, uint64_t from, bool kept_ok = false);
  // Carved sub-objects after finish_carving (address order): the table re-indexed,
  // the one at or below v and the one above it; tails left to check_kept_tails.
  void reindex_carved();
  int64_t carved_below(uint64_t v) const;
  int64_t carved_above(uint64_t v) const;
  bool defer_tail_check(uint32_t i);
  bool check_kept_tails();
  uint32_t* tail_pending_ = nullptr;
  uint32_t tail_pending_count_ = 0, tail_pending_capacity_ = 0;
  bool flexible_tail(uint32_t type) const;
  // Same size and member offsets at every level: a sub-object that stays in place.
  bool same_layout(uint32_t src_type, uint32_t dst_type, int depth = 0);
  bool refuse_moved_layout(const Object& o);
  // Map: each sub-object at its container's destination plus the same offset.
  void place_carved();
  void walk_carved(const Object& o, const uint8_t* src, uint8_t* dst);
  bool carved_by_plan(const Object& o, const uint8_t* src, uint8_t* dst);  // the fast path of walk_carved
  uint32_t same_layout_pair_[2] = {0, 0};  // refuse_moved_layout: the last type pair found alike
  bool carved_destination(uint64_t v, uint64_t* out) const;     // apply_plan: a sub-object's start translated
  // A typing pass that declared something is doomed: it only looks for more
  // declarations (engine_doomed_pass.cc).
  void start_typing_pass(uint32_t containers, uint64_t free_elements);
  bool pass_doomed() const {
    return doomed_skips_ && (container_count_ != pass_containers_ || free_element_count_ != pass_free_);
  }
  bool skip_doomed_walk(const Object& o);
  bool type_may_declare(uint32_t src_type);
  bool find_declaring_types();
  bool declaring_in_destination(const dwarfmeta::image::ImageType& ty) const;
  bool declares_directly_or_through(uint32_t t);
  // ---- a second run on the same state (engine_delta.cc) ---------------------------------
  bool delta_ = false;                  // running a second run: no start-up object superseded again
  uint32_t delta_first_new_ = 0;        // the table's end after the first run: objects from here are new
  uint64_t* delta_sorted_addr_ = nullptr;  // the new objects by address (object_holding's second search)
  uint32_t* delta_sorted_index_ = nullptr;
  uint32_t delta_sorted_count_ = 0;
  bool delta_last_ = false;               // this run is the last (Delta::last): nothing kept for a next
  uint8_t* run_block_ = nullptr;          // run_alloc's block: its size, and how much of it this run took
  uint64_t run_block_size_ = 0, run_block_used_ = 0;
  uint64_t* spare_sorted_addr_ = nullptr;  // fold_delta's other pair of sorted arrays (the one before last),
  uint32_t* spare_sorted_index_ = nullptr; // filled again by the next fold; room for this many entries
  uint64_t spare_sorted_room_ = 0, sorted_room_ = 0;
  uint64_t* changed_bits_ = nullptr;      // the first run's objects marked changed by this run, one bit each
  uint64_t changed_words_ = 0;            // (for walking them in index order without the whole table)
  uint64_t changed_count();
  uint32_t* gone_now_ = nullptr;          // the objects this run found freed, and how many
  uint32_t gone_now_count_ = 0;
  uint64_t gone_total_ = 0;               // heap objects of the table gone in any run so far
  static constexpr uint32_t kMaxFrameRoots = 256;
  uint64_t frame_root_values_[kMaxFrameRoots];  // the last run's pointer locals, in the order visited
  uint32_t frame_root_count_ = 0;               // how many (past kMaxFrameRoots: all count as changed)
  uint64_t frame_aggregate_hashes_[kMaxFrameRoots];  // the last run's struct and array locals holding pointers,
  uint32_t frame_aggregate_count_ = 0;               // each hashed (FNV-1a), in the order visited
  const void* root_frames_ = nullptr;           // the frames of the pointer local being visited, and
  uint32_t root_self_frame_ = 0;                // its paired local's frame (a second run writes it there)
  struct DeltaPrior {                   // a heap object whose descriptor a patch overwrote:
    uint32_t index;                     // its facts in the first run's copy
    uint64_t dyn_id, size, site, origin;
  };
  bool delta_refuse(const char* why);
  bool delta_possible();
  void record_frame_roots();
  uint64_t local_hash(const dwarfmeta::image::ImageFramePlace& p, const uint8_t* src);
  bool pointer_root_changed(uint32_t n, uint64_t v) const;
  bool aggregate_root_changed(uint32_t a, const dwarfmeta::image::ImageFramePlace& p, const uint8_t* src);
  void name_frame_root(const dwarfmeta::image::ImageFunction& f, const dwarfmeta::image::ImageFramePlace& p);
  bool type_changed_frame_roots();
  void settle_changed_frame_roots();
  void fold_delta();
  void write_changed_pointer(const dwarfmeta::image::ImageFramePlace& q, uint64_t v, uint64_t w);
  bool translate_frame_pointer(uint64_t v, uint64_t* t);
  bool patch_source(const Delta& delta);
  template <class Visit>
  void objects_overlapping(uint64_t lo, uint64_t hi, uint64_t& from, Visit&& visit);
  bool prepare_changed_bits();
  void mark_changed(uint32_t i);
  template <class Visit>
  void for_each_changed(Visit&& visit);
  bool add_new_objects();
  bool grow_table();
  bool mark_own_ranges(const Delta& delta);
  bool pair_new_objects();
  bool sort_new_objects();
  int64_t new_object_holding(uint64_t v) const;
  bool type_delta();
  bool map_delta();
  void write_delta();
  uint32_t heap_end_ = 0;            // the table's end before the sub-objects
  uint32_t object_capacity_ = 0;     // room in objects_ (sub-objects included)
  uint32_t container_count_ = 0;     // objects flagged kContainer
  uint32_t last_declared_ = 0xffffffffu, last_declarer_ = 0xffffffffu;  // a typing pass's last container, and the object walked then (its refusal names them)
  // Typing: sub-objects by address (open addressing, addr 0: empty) with their table
  // indices, side by side: one cache line per probe (memcached 1.6: ~4 M probes of a
  // 4 M-slot table per direction at 1 M keys).
  struct CarvedSlot {
    uint64_t addr;
    uint64_t index;
  };
  CarvedSlot* carved_slots_ = nullptr;
  uint64_t carved_capacity_ = 0;      // a power of two
  uint64_t carved_used_ = 0;          // its occupied slots (kept at most half)
  bool carved_rehashed_ = false;      // grown since last emptied: its slots' order is no longer the carving's
  // prepare_carving's last scan: how many containers, a digest of their addresses, the words into them.
  uint64_t bound_containers_ = 0, bound_digest_ = 0, bound_words_ = 0;
  uint64_t words_into(const uint64_t* lo, const uint64_t* hi, uint32_t n);  // prepare_carving's scan of the copy
  void clear_carved_table();
  bool grow_carved_table();

  // ---- free memory declared by its holders (engine_free.cc, TTST_FREE_SLOTS) ------------------
  // A pointer into a container's free bytes (no sub-object holds them) is refused
  // unless it is declared free: a FREE_SLOTS holder, an element of a FREE_SLOTS_N
  // array, or any pointer inside an element of a FREE_LIST (free elements type
  // nothing; their pointers are translated where they can be, else carried).
  void declare_free(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index,
                    const uint8_t* struct_src);
  Annotations::FreeForm free_form(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index,
                                  int64_t* src_arg);
  void declare_free_list(uint32_t src_holder_type, uint32_t dst_holder_type, uint64_t p, int64_t link);
  void declare_free_list(const ImageType& src_holder, const ImageType& dst_holder, uint64_t p, int64_t link);
  Annotations::FreeForm global_free_form(const Object& o, int64_t* link);
  bool free_element_at(uint32_t src_type, uint32_t dst_type, const uint8_t* src);
  bool add_free_element(uint64_t addr);
  bool is_free_element(uint64_t addr) const;
  uint64_t source_address(const uint8_t* src) const;
  bool translate_quietly(uint64_t v, uint64_t* out);
  bool held_by_sub_object(uint64_t v, const Object& container) const;
  void refuse_free_byte_pointer(uint64_t v, const Object& container);
  void undeclare_pass_containers();
  bool snapshot_containers();
  bool holds_containers(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index) const;
  bool free_pointer_ = false;         // the pointer walked now may point to free memory
  bool container_ref_ = false;        // the pointer walked now is a holder's: to a container's base
  bool free_element_ = false;         // the value walked now lies in a free list's element
  uint64_t* free_elements_ = nullptr;  // their addresses (open addressing, 0: empty)
  uint64_t free_capacity_ = 0, free_element_count_ = 0;
  uint8_t* initial_container_ = nullptr;  // per heap object: a container before the typing passes
  uint32_t initial_container_count_ = 0;
  // ---- blind spots (engine_blind_spots.cc): what a plain transfer would carry wrong, R == P ----
  uint32_t source_named_like(uint32_t dst_type) const;
  bool refuse_untyped_layout(const Object& o);
  bool refuse_resized_pointer_array(const ImageType& src_ty, const ImageType& dst_ty);
  bool refuse_resized_startup(uint64_t old, uint64_t v);
  bool holds_at_edge(uint32_t t, uint32_t pointee, bool start, int depth = 0) const;
  uint64_t pick_at_boundary(uint32_t a_type, uint32_t b_type, uint64_t end, uint64_t start) const;
  int translate_at_global_boundary(uint64_t v, uint32_t b, uint64_t* out);
  bool map_struct_offset(const ImageType& src_ty, const ImageType& dst_ty, uint64_t off, uint64_t* out, int depth);
  uint32_t pointee_hint_ = 0;  // the stripped target type of the pointer being translated (0: unknown)
  // ---- optimised sites' candidate types (engine_site_candidates.cc) ----
  bool refuse_site_candidates(const Object& o);
  void advise_points_to_candidates(const Object& o, const uint32_t* candidates);

  // ---- mapping ---------------------------------------------------------------------------------
  // Phase 4: destination sizes and the untyped policy, then allocation in F or
  // counterparts in R.
  bool map_objects();
  bool size_destinations(uint32_t from = 0);  // heap objects from `from` (a second run: its new ones)
  bool refuse_untyped_pointer(const Object& o);
  bool allocate_in_future();
  void reserve_future_heap();
  uint64_t future_heap_bytes(bool typed) const;
  // Backward, for what merge_counterparts left: R's objects hashed by dyn_id.
  // The table is sized for both sides' counts (r_objects: R's objects the merge walked).
  bool hash_counterparts(uint64_t r_objects);
  // A walk of this process's own heap lists: false, with the message, if it failed.
  bool own_walk_succeeded(int64_t walked);

  // Backward: the origin_id of a source (F) heap object that needs a counterpart in R, else 0.
  uint64_t origin_of(const Object& o) const;
  // Backward: one walk of R's lists against the table in order; sets dst (and clips
  // dst_size to R's object) for every object whose counterpart comes in order.
  bool merge_counterparts(uint64_t& r_objects);  // r_objects: how many of R's it walked

  // ---- F's own start-up heap objects ------------------------------------------------------
  // Forward only: a global's pointer the transfer overwrites may hold an object v2's
  // start-up allocated (origin_id 0, the program's own site). Such objects are freed
  // after the transfer unless some global of F still points to them.
  bool index_startup_objects();
  void add_startup_object(uint64_t addr, uint64_t size);
  void supersede(uint64_t old, uint64_t now, uint32_t global = 0xffffffffu);
  void advise_frame_remap(const StartupObject& s);  // engine_frames.cc: the source change that avoids it
  void free_superseded();

  // ---- this process's own frames (engine_frames.cc) -----------------------------------------
  // Forward: every word of F's stopped stack inside a superseded start-up object is
  // remapped to its counterpart (same offset); one without a unique counterpart is
  // refused (AMBIGUOUS) naming the frame. Run after the write, before the free.
  void remap_own_frames();
  void remap_stack(uint64_t lo, uint64_t hi, bool own);  // own: the agent's thread's (named by its frames)
  void remap_thread_descriptors();                        // engine_frames.cc (issue 19)
  bool translate_silently(uint64_t v, uint64_t* out);
  bool startup_holding(uint64_t v) const;
  int64_t startup_index_holding(uint64_t v) const;
  void pair_by_thread(struct StartupObject& s, uint64_t counterpart);
  // The superseded start-up object holding `v`, or nullptr.
  const struct StartupObject* superseded_holding(uint64_t v) const;
  // Names the stack slot `addr` in the message: the function whose frame holds it
  // (frame-pointer chain from Config::own_frame) and its offset from that frame's CFA.
  void describe_stack_slot(uint64_t addr);
  // Result::superseded: the list handed to the supervisor.
  void list_superseded();

  // ---- paths from a root, for refusals (root_paths.cc) ---------------------------------------
  struct ParentLink {
    uint32_t parent;  // the object whose pointer first reached it, kFrameRootBase + i (a frame's local), or none
    uint32_t offset;  // where that pointer is in it
  };
  static constexpr uint32_t kFrameRootBase = 0xfffff000u, kMaxRootLocals = 256;
  void prepare_root_paths();
  uint32_t frame_root_marker(const char* function, const char* local);
  void note_reached(uint32_t index, const uint8_t* src);
  const ParentLink* link_reaching(uint32_t at);
  void member_path(Message& to, uint32_t type, uint64_t off, bool arrow, int depth);
  void describe_root_path(Message& to, uint32_t index, bool tail_if_deep = false);
  void refuse_deep_declarations(int passes);  // engine_typing.cc
  ParentLink* parents_ = nullptr;
  uint32_t refused_at_ = 0xffffffffu;  // the heap object a refusal (fail_at_current) names, for its path
  bool root_path_written_ = false;
  const char* root_locals_[kMaxRootLocals][2] = {};
  uint32_t root_local_count_ = 0;

  // ---- the roots on the stack (frame_roots.cc) ---------------------------------------------
  void type_frame_roots();
  void settle_frame_roots();
  // The scalar locals of the main thread's frames (frame_roots.cc): carried into
  // F's paired locals (forward), checked against R's (backward).
  void settle_scalar_locals();
  void settle_scalar_local(const dwarfmeta::image::ImageFunction& f, const dwarfmeta::image::ImageFramePlace& p,
                           const uint8_t* src, const dwarfmeta::image::ImageFramePlace& q, uint32_t self_frame,
                           const uint8_t* dst);
  void refuse_frame_round_trip(const dwarfmeta::image::ImageFunction& f, const dwarfmeta::image::ImageFramePlace& p,
                               uint64_t v, uint64_t t, uint64_t w);
  static constexpr uint32_t kMaxLocalRegisters = 64;
  LocalRegister local_registers_[kMaxLocalRegisters];
  void refuse_lone_root(const dwarfmeta::image::ImageFunction& f, const dwarfmeta::image::ImageFramePlace& p,
                        uint64_t v, uint32_t marker);
  void refuse_lone_aggregates();  // after the sweep: unpaired struct locals that are an object's only root
  void refuse_piece_locals();     // after the sweep: composite (DW_OP_piece) locals that are an object's only root
  struct PieceRoot;
  void refuse_piece_local(const dwarfmeta::image::ImageFunction& f, const PieceRoot& r, uint32_t index);
  int64_t lone_target(uint32_t src_type, const uint8_t* src, uint32_t depth);
  void refuse_only_root(const dwarfmeta::image::ImageFunction& f, const dwarfmeta::image::ImageFramePlace& p,
                        uint32_t index);
  template <class Visit, class Aggregate>
  void each_frame_root(Visit&& visit, Aggregate&& aggregate);
  template <class Visit, class Aggregate>
  void each_frame_root_of(const void* frames, Visit& visit, Aggregate& aggregate);  // one pair of threads' frames
  // Struct and array locals (frame_roots.cc): their bytes (a stack slot, or a register
  // for one of at most 8 bytes), and their pointer members settled pairwise.
  const uint8_t* frame_local_bytes(const dwarfmeta::image::ImageFramePlace& p, const ttst_stfw_frame* frames,
                                   uint32_t count, uint32_t k, bool self, uint64_t size, uint8_t* reg_bytes);
  void settle_frame_pointer(const dwarfmeta::image::ImageFunction& f, const dwarfmeta::image::ImageFramePlace& p,
                            uint64_t v, uint64_t w, const dwarfmeta::image::ImageFramePlace* q = nullptr);
  bool write_local_pointer(const dwarfmeta::image::ImageFramePlace& q, uint64_t t);
  // A struct local is being walked: its unions and intptr_t members are copied as
  // bytes, never typed through nor refused (stack scratch: `struct epoll_event evs[16]`).
  bool frame_local_walk_ = false;
  bool holds_state_pointer(uint32_t src_type, const uint8_t* src, uint32_t depth);
  void settle_aggregate(const dwarfmeta::image::ImageFunction& f, const dwarfmeta::image::ImageFramePlace& p,
                        uint32_t src_type, uint32_t dst_type, const uint8_t* src, const uint8_t* dst, uint32_t depth);
  // Issue 19: the frames being visited are another pair of threads' (not the main
  // threads'); a local of F's there that would need superseding is refused
  // (thread_roots.cc): only the main thread's stack and registers are remapped.
  bool other_thread_frames_ = false;
  void refuse_thread_local(const dwarfmeta::image::ImageFunction& f, const dwarfmeta::image::ImageFramePlace& p,
                           uint64_t own, uint64_t translated);
  bool frame_local_value(const dwarfmeta::image::ImageFramePlace& p, const ttst_stfw_frame* frames, uint32_t count,
                         uint32_t k, bool self, uint64_t* value);
  bool renamed_local(const char* function, const char* src_name, const char* dst_name) const;
  void advise_local_rename(const dwarfmeta::image::ImageFunction& f, const dwarfmeta::image::ImageFramePlace& p);
  const dwarfmeta::image::ImageFramePlace* paired_local(const dwarfmeta::image::ImageFramePlace& p,
                                                        const dwarfmeta::image::ImageFunction& src_fn,
                                                        uint32_t src_occurrence, const void* frames, uint32_t* self_frame);
  // The frame of this process paired with the source's frame of `src_fn` (same
  // function ID, same occurrence from main): its function, index and link-time pc.
  const dwarfmeta::image::ImageFunction* paired_frame(const dwarfmeta::image::ImageFunction& src_fn,
                                                      uint32_t src_occurrence, const ttst_stfw_frame* self,
                                                      uint32_t self_count, uint32_t* self_frame, uint64_t* at);
  // ---- locals split in pieces at -O2 (frame_pieces.cc) ---------------------------------------
  // One pointer member of a composite (DW_OP_piece) local: `p` the source's piece
  // retyped as the member's pointer type, its value; `q`/`w` the paired place and
  // value of this process's same member (paired false: none readable).
  struct PieceRoot {
    dwarfmeta::image::ImageFramePlace p, q;
    uint64_t v = 0, w = 0;
    bool paired = false;
    const char* name = nullptr;  // "roots.srv": the local and the member path
  };
  static constexpr uint32_t kMaxPieceRoots = 16;  // frame_pieces.cc kMaxLeaves
  uint32_t piece_roots(const dwarfmeta::image::ImageFramePlace& p, const dwarfmeta::image::ImageFunction& f,
                       uint32_t nth, uint32_t k, const ttst_stfw_frame* peer, uint32_t peer_count,
                       const ttst_stfw_frame* self, uint32_t self_count, PieceRoot* out);
  // The pointer members of the source's whole struct local `p` (bytes `src`), each
  // paired with this process's same member when its local is split in pieces.
  uint32_t whole_roots(const dwarfmeta::image::ImageFramePlace& p, const dwarfmeta::image::ImageFunction& f,
                       uint32_t nth, const uint8_t* src, const ttst_stfw_frame* self, uint32_t self_count,
                       PieceRoot* out);
  bool paired_piece_value(const dwarfmeta::image::ImageFunction& f, uint32_t nth, const char* local,
                          const uint32_t* path, uint32_t depth, uint32_t src_type, const ttst_stfw_frame* self,
                          uint32_t self_count, PieceRoot& r);
  const char* piece_member_ = nullptr;  // the member path being visited (root paths name it)

  // ---- words the kernel holds (epoll registrations' data) --------------------------------------
  // Each that points into the state is translated like a pointer; the others (fd
  // numbers, small ids) are kept.
  void translate_kernel_words();

  // ---- library adapters (engine_library.cc, library_state.h) --------------------------------------
  bool resolve_library_rules();
  // Untyped heap objects holding a live embedded library value (library_state.h).
  bool type_library_containers();
  bool live_embedded(const LibraryAdapter& adapter, uint32_t type, uint64_t addr);
  int64_t member_path_offset(uint32_t type, const char* path) const;
  int32_t embedded_adapter(uint32_t src_type) const;
  int32_t handle_adapter(uint32_t src_pointee);
  uint8_t* handle_memo_ = nullptr;  // per source type: 0 unknown, else adapter + 2 (1: none)
  // A pointer to a library's own object: kept (see engine_library.cc); true if so.
  bool library_handle(const ImageType& src_ty, const uint8_t* src, uint8_t* dst);
  uint64_t superseded_handle(const uint8_t* dst) const;  // engine_library.cc (issue 19)
  void release_library_state();
  // Every value of an embedded library type inside a value of this process's type
  // dst_type at addr, withdrawn (Env::library_release).
  void release_embedded(uint32_t dst_type, uint64_t addr, uint32_t depth);
  bool holds_embedded(uint32_t dst_type, uint32_t depth);
  uint8_t* holds_embedded_memo_ = nullptr;  // per destination type: 0 unknown, 1 no, 2 yes
  void library_written(int32_t adapter, uint32_t src_type, uint32_t dst_type, const uint8_t* src, uint8_t* dst);
  static constexpr uint32_t kMaxLibraryTypes = 64;
  struct LibraryType {
    uint32_t type, adapter;
  };
  LibraryType library_embedded_[kMaxLibraryTypes] = {};  // the source's types
  uint32_t library_embedded_count_ = 0;
  LibraryType library_dst_embedded_[kMaxLibraryTypes] = {};  // the destination's
  uint32_t library_dst_embedded_count_ = 0;

  // ---- start-up state the destination keeps (engine_keep_new.cc, TTST_KEEP_NEW) ----------------
  // A value of the source's kept graph and its counterpart here (dst 0: none).
  struct KeptRange {
    uint64_t src, size, dst, dst_size;
    uint32_t src_type, dst_type;  // element types (stripped)
    uint32_t object;              // the heap object or carved sub-object it is (0xffffffff: a part of one)
    uint32_t root;                // the KEEP_NEW global it was reached from
    bool paired;
    uint64_t from = 0;            // the source address of the range whose walk met it (0: a root)
  };
  struct OwnBlock {
    uint64_t addr, size, site;
  };
  bool pair_kept_graphs();
  void pair_kept_member(const char* id, const char* path);
  uint32_t member_at_path(const View& v, uint32_t type, const char* path, uint64_t* offset) const;
  void kept_untyped(uint64_t vs, uint64_t vd);
  void describe_kept_origin(const KeptRange& r);
  bool transferred_here(const Object& o) const;
  // Kept pointers to run-time state (engine_keep_runtime.cc).
  struct RuntimePointer {
    uint8_t* slot;  // the pointer in this process's kept graph
    uint64_t vs;    // the source's pointer at the same path
  };
  void note_runtime_pointer(uint64_t vs);
  void retarget_runtime_pointers();
  bool supersedes_startup(uint32_t index) const;
  bool stale_startup_pointer(const Object& target, const uint8_t* src) const;
  bool in_keep_new_at_struct(uint64_t addr) const;
  const uint8_t* kept_slot_ = nullptr;  // this process's pointer the kept walk is at (kept_value)
  RuntimePointer* runtime_pointers_ = nullptr;
  uint32_t runtime_pointer_count_ = 0, runtime_pointer_capacity_ = 0;
  // TTST_KEEP_NEW_AT roots that are not pointers: this process's start-up bytes,
  // written back over the transferred struct after the write.
  struct KeptMember {
    uint64_t src, offset, size;
    const uint8_t* bytes;
  };
  static constexpr uint32_t kMaxKeptMembers = 32;  // nginx declares 12 non-pointer members (each met in both versions' annotations)
  KeptMember kept_members_[kMaxKeptMembers] = {};
  uint32_t kept_member_count_ = 0;
  bool save_kept_member(uint64_t src, uint64_t offset, const uint8_t* bytes, uint64_t size);
  void restore_kept_members();
  // The structs holding KEEP_NEW_AT roots (P's address, size): transferred, never
  // taken into the kept graph.
  struct KeptHolder {
    uint64_t addr, size, dst;  // dst: this process's start-up struct at the same place (0: none)
  };
  KeptHolder kept_holders_[kMaxKeptMembers] = {};
  uint32_t kept_holder_count_ = 0;
  bool note_kept_holder(uint64_t addr, uint64_t size, uint64_t dst);
  // engine_keep_into.cc: containers whose first value is kept go into its
  // counterpart's block (before allocation), and their transferred sub-objects are
  // checked to land only where this process's KEEP_NEW_AT struct is (after placing).
  void mark_into_counterparts();
  bool check_into_counterparts();
  bool into_counterpart(const Object& carved) const;
  void mark_transfer_anchors();
  void anchor_pointers_in(uint32_t type, const uint8_t* src, const char* skip_path_of, int depth);
  bool in_kept_holder(uint64_t v) const;
  // After the write: restore_kept_members, and forward the bytes of kept sub-objects
  // of transferred containers carried as dead bytes (carry_kept_carved).
  void finish_kept_write();
  void carry_kept_carved();
  bool index_own_blocks();
  const OwnBlock* own_block(uint64_t base) const;
  void kept_value(uint32_t src_type, uint32_t dst_type, const uint8_t* src, const uint8_t* dst, uint32_t depth);
  void kept_pointer(uint64_t vs, uint32_t sp, uint64_t vd, uint32_t dp);
  bool same_site_id(uint64_t src_site, uint64_t dst_site) const;
  void add_kept(uint64_t src, uint64_t size, uint64_t dst, uint64_t dst_size, uint32_t st, uint32_t dt, uint32_t object);
  bool grow_kept();
  bool grow_kept_slots();
  void walk_kept_range(uint32_t i);
  void sort_kept();
  int64_t kept_holding(uint64_t v) const;
  bool translate_kept(uint64_t v, const KeptRange& r, uint64_t* out);
  bool kept_partner(uint64_t addr, uint64_t size) const;
  // Forward, after the write: a start-up object holding part of the kept graph is
  // not superseded (never freed; F's stack and registers into it are not remapped).
  void keep_kept_partners();
  // A kept value that starts at the base of a heap block it does not span (a pool
  // block's first value): its address is also the block's, so the base fast paths
  // are turned off there; unless its counterpart is at the base of a block too (the
  // block and its first value then map alike: engine_keep_into.cc) the value is
  // refused (unpaired) rather than guessed.
  void unmap_kept_bases();
  // Globals whose value in P still equals v1's ELF initializer
  // take this process's start-up value (rule kRuleSkip); pointer-holding ones only
  // when zero-initialised (.bss: no relocation can apply). Result::untouched counts them.
  void keep_untouched_globals();
  KeptRange* kept_ = nullptr;
  uint32_t kept_count_ = 0, kept_capacity_ = 0, kept_work_count_ = 0, kept_root_ = 0, kept_ranges_paired_ = 0;
  uint64_t kept_from_ = 0;  // the range being walked (KeptRange::from of what it meets)
  uint32_t* kept_work_ = nullptr;
  uint32_t* kept_slots_ = nullptr;
  uint64_t kept_slots_capacity_ = 0;
  OwnBlock* own_blocks_ = nullptr;
  uint64_t own_capacity_ = 0;
  // Suggestions (engine_keep_new_candidates.cc): globals whose graph v2's start-up
  // built again, differing only by longer arrays. Forward, before the write.
  static constexpr uint32_t kCandidateBlocks = 64;
  void find_keep_new_candidates();
  void candidate_value(uint32_t src_type, uint32_t dst_type, const uint8_t* src, const uint8_t* dst, uint32_t depth);
  void candidate_pointer(uint64_t vs, uint32_t sp, uint64_t vd, uint32_t dp, uint32_t depth);
  uint32_t* candidates_ = nullptr;
  uint32_t* candidate_seen_ = nullptr;
  uint32_t candidate_count_ = 0, candidate_seen_count_ = 0;
  bool candidate_longer_ = false, candidate_differs_ = false;

  // ---- writing -----------------------------------------------------------------------------------
  void write_objects();
  uint32_t* backward_write_order();
  // Objects [from, to) in table order, up to the first failure (write_failed_at_).
  // With write_list_ set, positions [from, to) of that list (a second run's
  // objects to write, ascending): write_failed_at_ is then a position.
  void write_range(uint32_t from, uint32_t to);
  // The same from the last object down (the worker's chunks: engine_parallel_write.cc).
  void write_range_down(uint32_t from, uint32_t to);
  void write_one(uint32_t i);
  uint32_t write_failed_at_ = 0xffffffffu;
  const uint32_t* write_list_ = nullptr;
  uint32_t write_list_count_ = 0;
  uint32_t written_at(uint32_t k) const { return write_list_ ? write_list_[k] : k; }
  void prefetch_written(uint32_t k) {  // prefetch_targets of what position k writes, if any
    if (!write_list_ || k < write_list_count_) prefetch_targets(written_at(k), false);
  }
  // Objects [heap, end) on two threads and [0, heap) on this one (engine_parallel_write.cc):
  // false when not (nothing written then: the caller writes them all on this thread).
  bool write_beside(uint32_t heap, uint32_t end);
  void take_write_chunks();
  static void write_worker_main(void* engine);
  void add_counts(const Result& worker);  // a worker's counters added to this engine's
  // A phase on two threads (engine_beside.cc): whether it may, the worker, its failure.
  bool can_run_beside() const;
  BesideShare* prepare_beside();
  void become_worker(BesideShare* share, char* message_buf);
  void adopt_failure(const Engine& worker);
  BesideShare* share_ = nullptr;  // while two threads run a phase
  template <class T>
  T* duplicate(const T* table, uint64_t count) {  // a memo table of this engine's own
    if (!table) return nullptr;
    T* mine = alloc<T>(count);
    if (mine) copy(mine, table, count * sizeof(T));
    return mine;
  }
  // One object written into `dst` (backward: a scratch image, zeroed where written).
  void write_object(Object& o, uint8_t* dst);
  uint8_t* backward_image_buffer(uint64_t n);
  uint64_t backward_span(const Object& o);
  bool write_backward_by_plan(const Object& o, uint8_t* image);  // engine_writing.cc

  // ---- user transfer code (engine_plugin.cc, plugin/ttst_xfer.h) ------------------------------
  static constexpr uint32_t kPluginTypes = 8, kMaxUnvalidated = 32;
  struct PluginSlot {
    const ttst_xfer_entry* entry;
    int32_t global;                         // GLOBAL: the source's global; INIT: this version's
    uint32_t types[kPluginTypes];           // TYPE / OWNS: stripped source types it names
    uint64_t member_offset[kPluginTypes];   // OWNS: the member's offset in each (~0: none)
    uint32_t type_count;
  };
  struct Unvalidated {
    const char* target;
    uint64_t objects;
  };
  bool resolve_plugin();
  void resolve_plugin_entry(const ttst_xfer_entry& e);
  bool plugin_bad_target(const ttst_xfer_entry& e, const char* what, bool newer);
  uint32_t plugin_types(const View& v, const char* target, uint32_t* out, const char** member);
  int32_t plugin_global(const View& v, const char* id) const;
  bool plugin_forward_only(uint32_t kind, const char* target) const;
  int32_t plugin_slot_for(const Object& o);
  const char* plugin_type_spelling(uint32_t t);
  bool mark_owned();
  void mark_owned_in(uint32_t owner, uint64_t member_offset, const PluginSlot& slot);
  void zero_members(uint32_t t, uint8_t* dst, int depth);
  // Writes `o` with the plugin's function when one covers it (true: handled).
  bool plugin_write(Object& o, uint8_t* dst);
  void call_plugin(ttst_xfer& x);
  void announce_plugin_call(const char* name, const Object* o);
  void note_unvalidated(const char* target);
  void plugin_finish();  // after the write: init callbacks, unclaimed owned objects
  void plugin_result();
  Object* owned_object(ttst_xfer* x, uint64_t v);
  static uint64_t api_ptr(ttst_xfer* x, uint64_t v);
  static int api_whole(ttst_xfer* x);
  static int api_member(ttst_xfer* x, const char* src_name, const char* dst_name);
  static const void* api_source(ttst_xfer* x, uint64_t addr, uint64_t len);
  static void* api_scratch(ttst_xfer* x, uint64_t size);
  static void* api_new_owned(ttst_xfer* x, uint64_t v, uint64_t size);
  static void* api_owned(ttst_xfer* x, uint64_t v, uint64_t* size);
  static int api_fail(ttst_xfer* x, const char* why);
  static uint64_t api_element(ttst_xfer* x);
  static int api_keep(ttst_xfer* x, const char* name);
  static uint64_t api_room(ttst_xfer* x, uint64_t* source_bytes);
  static uint64_t api_source_address(ttst_xfer* x);
  // Placement of carved sub-objects by the plugin (engine_plugin_place.cc).
  int32_t plugin_place_slot(uint32_t t) const;
  bool plugin_place();
  bool check_placements();
  int64_t sub_object_holding(uint64_t v, const Object& container) const;
  bool translate_own_place(uint64_t v, const Object& container, uint64_t* out, bool* ok);
  static int api_place(ttst_xfer* x, uint64_t addr, uint64_t bytes, int source);
  static const void* api_source_global(ttst_xfer* x, const char* id, uint64_t* size);
  PlaceRange* container_ranges_ = nullptr;  // containers' destinations, by address
  uint64_t container_range_count_ = 0;
  bool own_places_ = false;  // some sub-object maps through itself (kCarvedOwnPlace)
  ttst_xfer_api plugin_api_ = {};
  const ttst_xfer_table* plugin_table_ = nullptr;
  PluginSlot* plugin_slots_ = nullptr;
  uint32_t plugin_slot_count_ = 0;
  uint32_t* plugin_type_memo_ = nullptr;  // per stripped source type: 0 unknown, else slot + 2 (1: none)
  Unvalidated unvalidated_[kMaxUnvalidated] = {};
  uint32_t unvalidated_count_ = 0;

  Config config_;  // a copy: a second run (engine_delta.cc) takes the frames at its stop
  const Env* env_;  // a pointer: a worker (engine_beside.cc) and the phases on two threads swap it
  Message message_;
  Annotations annotations_;
  Result result_;
  Object* objects_ = nullptr;
  mutable const Region* last_region_ = nullptr;
  mutable uint64_t last_holding_ = 0;  // object_holding's last end of search (engine_index.cc)
  StartupObject* startup_objects_ = nullptr;  // F's start-up heap objects
  uint64_t startup_count_ = 0, startup_capacity_ = 0;
  uint32_t object_count_ = 0, global_count_ = 0;
  uint32_t* sorted_index_ = nullptr;  // the table's indices by source address
  uint64_t* sorted_addr_ = nullptr;   // and those addresses, for the binary search
  uint8_t* has_pointer_memo_ = nullptr;
  uint32_t* counterpart_memo_ = nullptr;
  struct Memo {
    uint64_t key;  // source type << 32 | destination type
    uint64_t v;    // 0: empty, 1: false, 2: true
  };
  Memo* same_flat_memo_ = nullptr;
  struct PlanSlot {
    uint64_t key;
    uint32_t* plan;
  };
  PlanSlot* member_plans_ = nullptr;
  struct SiteSlot {
    uint64_t src_site, dst_site;
  };
  SiteSlot* dst_site_memo_ = nullptr;
  struct CompiledSlot {
    uint64_t key;
    uint64_t state;  // 0: empty, 1: compiled (plan NULL: not compilable)
    CompiledPlan* plan;
  };
  CompiledSlot compiled_plans_[256] = {};
  uint32_t* typing_stack_ = nullptr;
  uint64_t typing_stack_room_ = 0;  // entries typing_stack_ holds
  uint32_t typing_stack_size_ = 0;
  uint32_t sweep_position_ = 0xffffffffu;
  Mode mode_ = kType;
  uint32_t current_ = 0;                                // the object being walked (an index), or kKernelWord
  uint64_t current_kernel_word_ = 0;                    // when current_ is kKernelWord: which one
  uint64_t last_symbol_src_ = 0, last_symbol_dst_ = 0;  // the last pointer translated by symbol
  uint8_t* backward_image_ = nullptr;                   // backward: the image of one object
  uint64_t backward_image_capacity_ = 0;
  uint8_t* own_window_ = nullptr;  // backward: R's bytes [own_lo_, own_hi_) (engine_own_memory.cc)
  uint64_t own_lo_ = 0, own_hi_ = 0;
  uint64_t own_refill_ = 4 << 20, own_hits_ = 0;
  // engine_doomed_pass.cc: the pass's starting counts, whether skipping is on, the
  // source types that may declare (per type id), the destination's declaring names.
  uint32_t pass_containers_ = 0;
  uint64_t pass_free_ = 0;
  bool doomed_skips_ = false;
  uint8_t* declaring_types_ = nullptr;
  static constexpr uint32_t kDeclaringNames = 256;
  const char* dst_declaring_[kDeclaringNames] = {};
  uint32_t dst_declaring_count_ = 0;
  bool own_window_tried_ = false;
  PathEntry path_[kMaxNesting];  // the member / element path of the value being walked, for messages
  uint32_t path_depth_ = 0;

  // ---- values in pointer members (engine_values.cc) -------------------------------------------
  bool tagged_member(uint32_t src_type, uint32_t src_index, uint32_t dst_type, uint32_t dst_index,
                     const uint8_t* struct_src, uint8_t* struct_dst);
  int64_t tag_value(const ImageMember& m, const uint8_t* struct_src) const;
  bool in_no_mapping(uint64_t v) const;
  // In no mapping, yet no evidence of an integer: a dead pointer or stale text (engine_dead_values.cc).
  bool maybe_dead_pointer(uint64_t v) const;
  static bool stale_text(uint64_t v);
  bool no_integer_evidence(uint64_t v) const;
  // walk_struct's hook: typing notes mixed members, writing refuses (true) live-looking values in them.
  bool pointer_member_value(uint32_t src_type, uint32_t src_index, const uint8_t* src);
  void note_member_value(uint32_t src_type, uint32_t src_index, const uint8_t* value);
  bool refuse_mixed(uint32_t src_type, uint32_t src_index, const uint8_t* value);
  bool mixed_type(uint32_t src_type) const;
  bool is_mixed(uint32_t type, uint32_t index) const;  // a mixed member (or kMixed* key)
  void name_tag_candidates(const ImageType& sty, uint32_t except);
  void settle_mixed_members();
  uint32_t returned_type(const dwarfmeta::image::ImageAllocSite& site);
  struct MixedMember {
    uint32_t type, index, object;  // the member (source struct, index) and an object holding an integer in it
    uint64_t value;                // that integer
  };
  // Keys of pointers that are no member (pointer_element_value): a global (index: its
  // src_global), the heap arrays of a pointer type (type: that pointer type).
  static constexpr uint32_t kMixedGlobal = 0xfffffffeu, kMixedElements = 0xffffffffu;
  bool pointer_element_value(uint32_t src_type, const uint8_t* src);
  bool refuse_mixed_element(const MixedMember& m, uint64_t v);
  static constexpr uint32_t kMaxMixed = 64;
  MixedMember mixed_[kMaxMixed] = {};
  uint32_t mixed_count_ = 0;
  struct ReturnSlot {
    uint64_t site;  // return address + 1 (0: empty)
    uint32_t type;
  };
  ReturnSlot returned_memo_[256] = {};

  // ---- the line that resolves a refusal (refusal_advice.cc) -------------------------------------
  // A refusal's fix: annotation lines (ttst.h and ttst-cc's TTST_ANNOTATIONS form)
  // or the transfer plugin's functions, written after the message as "; fix: ...".
  Message& advice_args();               // the arguments of the next advised annotation (cleared)
  void advise(const char* kind);        // "add TTST_<kind>(<args>); ..." (a second one: "..., or ...")
  void advise_plugin(uint32_t src_type);  // the plugin functions of a struct / typedef type
  void advise_plugin_global(const char* id);
  void spell_type(Message& to, const View& v, uint32_t t) const;  // "struct S", a typedef name, "int"
  void spell_member(Message& to, uint32_t type, uint32_t index) const;  // "struct S.m" (annotation target)
  bool current_member(uint32_t* type, uint32_t* index) const;  // the innermost member walked now
  // The member (or global) holding the value walked now, as an annotation target.
  bool spell_current_holder(Message& to) const;
  void advise_current(const char* kind);  // advise(kind) on the current holder
  bool parent_member(uint32_t index, uint32_t* member_type, uint32_t* member_index);  // the member that reached it first
  void advise_parent(uint32_t index, const char* kind);  // advise(kind) on that member
  void advise_points_to(const Object& o);  // an untyped object: POINTS_TO on the member that reached it
  void advise_plugin_function(const char* name);  // the plugin's own failure: the function to correct
  void advise_tagged(uint32_t src_type, uint32_t src_index);  // a mixed member: TAGGED with the tags seen
  void advise_piece_local(const char* function, const char* local);  // a composite local: keep it in memory
  static constexpr uint32_t kTagInt = 0xffffffffu, kTagDead = 0xfffffffeu, kTagChar = 0xfffffffdu;
  uint32_t tag_evidence(uint64_t v);
  int64_t tag_mapping(uint32_t src_type, uint32_t src_index, uint32_t tag_index, Message* to);
  char advice_buf_[2048] = {};
  char advice_args_buf_[512] = {};
  Message advice_{advice_buf_, sizeof advice_buf_};
  Message advice_args_{advice_args_buf_, sizeof advice_args_buf_};
  bool advice_allowed_ = false;  // the last fail() took the failure: its advice may be written
};

}  // namespace ttst::stfw::engine_detail

#endif
