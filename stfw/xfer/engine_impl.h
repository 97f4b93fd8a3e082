// engine_impl.h — the state transfer engine's internals (UNTRUSTED, freestanding
// C++), shared by the files that implement its phases; only engine.h is its API.
//   engine_types.cc      type facts: sizes, pointers, flat layouts, counterparts
//   engine_index.cc      the object table: globals, the source's heap walk, lookups
//   engine_typing.cc     typing heap objects from typed pointers and sites
//   engine_plans.cc      compiled element plans (the fast path of the walk)
//   engine_transform.cc  the walk: members, arrays, scalars, bitfields, unions
//   engine_pointers.cc   pointer translation (objects, functions, strings, libraries)
//   engine_mapping.cc    where each object goes: allocated in F / found in R
//   engine_writing.cc    writing, superseded start-up objects, kernel-held words
//   engine.cc            transfer(): runs the phases
#ifndef TTST_STFW_XFER_ENGINE_IMPL_H
#define TTST_STFW_XFER_ENGINE_IMPL_H

#include "stfw/abi/ttst_heap_reader.h"
#include "stfw/stfw_task.h"
#include "stfw/xfer/annotations.h"
#include "stfw/xfer/decimal.h"
#include "stfw/xfer/engine.h"

namespace ttst::stfw::engine_detail {

using dwarfmeta::image::ImageGlobal;
using dwarfmeta::image::ImageMember;
using dwarfmeta::image::ImageType;
using dwarfmeta::image::View;

enum Kind : uint8_t { kVoid = 0, kBase = 1, kStruct = 2, kUnion = 3, kEnum = 4, kPointer = 5, kArray = 6, kTypedef = 7, kFunc = 12 };
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
inline uint64_t ld(const uint8_t* p, uint64_t n) {
  uint64_t v = 0;
  for (uint64_t i = 0; i < n && i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}
inline void st(uint8_t* p, uint64_t n, uint64_t v) {
  for (uint64_t i = 0; i < n && i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}
inline bool streq(const char* a, const char* b) { return View::compare(a, b) == 0; }

// One line of text into the output buffer.
struct Out {
  char* buf;
  uint64_t size, used = 0;
  Out& s(const char* t) {
    while (t && *t && used + 1 < size) buf[used++] = *t++;
    if (used < size) buf[used] = 0;
    return *this;
  }
  Out& u(uint64_t v) {
    char digits[kDecimalDigitsMax];
    decimal_digits(v, digits);
    return s(digits);
  }
  Out& i(int64_t v) { return v < 0 ? s("-").u(uint64_t(-(v + 1)) + 1) : u(uint64_t(v)); }
  Out& x(uint64_t v) {
    char r[19] = "0x";
    int n = 0;
    uint64_t t = v;
    do ++n, t >>= 4;
    while (t);
    for (int k = 0; k < n; ++k) r[2 + k] = "0123456789abcdef"[(v >> (4 * (n - 1 - k))) & 15];
    r[2 + n] = 0;
    return s(r);
  }
  void end() {  // terminate the line: lines are NUL-separated
    if (used + 1 < size) buf[used++] = 0;
    if (used < size) buf[used] = 0;
  }
};

constexpr uint32_t kGlobal = 1u << 30, kReadonly = 1u << 29, kQueued = 1u << 28, kLib = TTST_HEAP_F_FROM_LIB;
constexpr uint32_t kRuleShift = 24, kRuleMask = 3u << kRuleShift;  // globals: the annotation's Rule
constexpr uint64_t kDesc = sizeof(ttst_heap_desc);
constexpr uint64_t kIndexTag = 0x7474737400000000ull;  // "tsst" << 32 | object index

struct Obj {
  uint64_t addr, size;  // in the source
  uint64_t dst, dst_size;
  uint64_t dyn_id, site;  // heap objects; site is the source's run-time site
  uint32_t ts, td;        // source / destination type: globals the whole type, heap the element
  uint32_t flags;
  uint32_t g, dg;         // globals: index in src / dst metadata
};

class Engine {
 public:
  Engine(const Config& c, const Env& e) : c_(c), e_(e), out_{c.out, c.out_size} {}

  Result run() {
    uint64_t t0 = rdtsc();
    if (!index()) return finish();
    uint64_t t1 = rdtsc();
    if (!type_objects()) return finish();
    uint64_t t2 = rdtsc();
    if (!map_objects()) return finish();
    uint64_t t3 = rdtsc();
    write_objects();
    if (!failed() && !c_.backward) free_superseded();
    if (!failed() && !c_.backward) translate_kernel_words();
    uint64_t t4 = rdtsc();
    r_.phase_cycles[0] = t1 - t0, r_.phase_cycles[1] = t2 - t1, r_.phase_cycles[2] = t3 - t2, r_.phase_cycles[3] = t4 - t3;
    return finish();
  }

 private:
  // ---- errors ---------------------------------------------------------------
  Out& fail(int status, const char* what);
  bool failed() const { return r_.status != 0; }
  Result finish();

  template <class T>
  T* alloc(uint64_t n) {
    void* p = e_.scratch(e_.ctx, n * sizeof(T) + 16);
    if (!p) fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: the agent's arena is exhausted (give it a larger heap)");
    return static_cast<T*>(p);
  }

  // ---- source memory ----------------------------------------------------------
  const uint8_t* src(uint64_t addr, uint64_t len) const;
  static const void* src_tr(void* ctx, uint64_t addr, uint64_t len) { return static_cast<Engine*>(ctx)->src(addr, len); }
  static const void* self_tr(void*, uint64_t addr, uint64_t) { return reinterpret_cast<const void*>(addr); }

  // ---- types ----------------------------------------------------------------------
  const View& sm() const { return c_.src_meta; }
  const View& dm() const { return c_.dst_meta; }
  uint64_t tsize(const View& v, uint32_t t) const;
  // Does the source type hold a pointer the transfer must translate?
  // (Unions holding pointers and intptr_t/uintptr_t values count: both may need
  // an annotation, so their bytes are never copied blindly.)
  bool has_pointer(uint32_t t0);
  // intptr_t / uintptr_t (through any typedefs or qualifiers): an integer meant to
  // hold an address.
  static bool is_intptr(const View& v, uint32_t t);
  // Which image is the newer version's: the annotations need to know.
  bool src_newer() const { return c_.backward; }
  bool annotated(uint32_t ts, uint32_t td) const;
  Rule member_rule(uint32_t ts, uint32_t si, uint32_t td, uint32_t di) const;
  // Identical layout and no pointer: the bytes are copied as they are.
  bool same_flat(uint32_t ts, uint32_t td, int depth = 0);
  // The destination type that corresponds to a source type (by name), 0 if none.
  uint32_t counterpart(uint32_t t, int depth = 0);
  const char* type_name(const View& v, uint32_t t) const;

  // ---- object table ------------------------------------------------------------------
  bool index();
  static int visit(void* ctx, uint64_t addr, const ttst_heap_desc* d);
  // The walk chases one link per object; blocks allocated one after another lie at a
  // constant stride, which the hardware prefetchers lose at each page boundary: the
  // descriptor that many steps down the same stride is requested ahead (a hint only,
  // never read here).
  static void walk_ahead(const ttst_heap_desc* d, const ttst_heap_desc* before);
  ttst_heap_desc* walked_ = nullptr;
  bool walk_descending_ = true;

  // The object holding source address v (one past its end counts), or -1.
  // The copy's descriptor of the heap object whose base address is v, or NULL.
  // After indexing, its `prev` holds the object's index, `next` (after mapping) the
  // destination address, `offset` the source type + 1 once typed: the hot paths
  // read one cache line of the copy instead of the object table.
  ttst_heap_desc* base_desc(uint64_t v) const;
  void set_dst_in_copy(uint64_t addr, uint64_t dst);
  int64_t find(uint64_t v) const;

  // The value being transferred: an object of the state, or a word the kernel holds.
  static constexpr uint32_t kKernelWord = 0xffffffffu;
  void describe_cur();
  void describe(Out& o, const Obj& x, bool dst);
  void describe_path(Out& o);

  // ---- typing ---------------------------------------------------------------------------
  bool type_objects();
  // A typed object of the same allocation site (memoised per round: one scan of
  // the table per distinct site, not per untyped object); &polymorphic_ when the
  // site's typed objects disagree (an allocation wrapper such as xmalloc: its one
  // site serves every type, so its other objects' types cannot be guessed).
  Obj polymorphic_{};  // the sentinel learnt_site returns for such a site
  const Obj* learnt_site(uint64_t site);
  bool polymorphic_site(uint64_t site);
  // A site inside an allocation wrapper: a function returning void * (xmalloc), or
  // one the user annotated TTST_ALLOCATOR. Its objects are of whatever type each
  // caller wanted, so neither its typed objects nor dwarfmeta's hint type the rest.
  bool wrapper_site(const dwarfmeta::image::ImageAllocSite& s) const;
  struct LearntSlot {
    uint64_t site;
    uint32_t idx, round;
  };
  LearntSlot learnt_[1024] = {};
  uint32_t round_ = 0;
  void push(uint32_t i);
  void drain();
  // Runs the walk over every element of an object (heap arrays) or the global.
  void each_element(const Obj& o, uint8_t* d);

  struct Ops;
  // What each_element needs per (source, destination) element type, memoised for the
  // last pair (heap objects of one type come in runs).
  struct PairFacts {
    uint32_t ts, td;
    uint64_t es, ed;
    bool ptr, flat;
    const Ops* ops;
  };
  const PairFacts& pair_facts(uint32_t ts, uint32_t td);

  // Memory-level parallelism for the sweeps over the object table: the random reads
  // are the pointer targets' descriptors (and, while typing, their table entries).
  // They are requested kAhead objects early. While typing, an object ahead may not
  // be typed yet: the layout of its site's last typed object is used (only a hint).
  static constexpr uint32_t kAhead = 8;
  void prefetch_ops(const Ops& ops, const uint8_t* s, bool deep);
  void prefetch_targets(uint32_t i, bool deep);
  void learn_site_ops(const Obj& o);
  struct SiteOps {
    uint64_t site, size;
    const Ops* ops;
  };
  SiteOps site_ops_[256] = {};
  PairFacts pf_ = {};
  bool pf_valid_ = false;

  // ---- compiled element plans: the walk of a type pair flattened once into byte
  // copies and pointer slots, applied per element without recursion. Anything the
  // fast path does not handle (bitfields, enums, conversions, pointers that are not
  // NULL or a mapped object's base) falls back to the walk for that element, which
  // redoes it all and names what is wrong.
  struct Op {
    uint32_t kind;  // 0 copy, 1 pointer
    uint32_t size;
    uint32_t soff, doff;
    uint32_t ps, pd;  // pointer: stripped source pointee, destination pointee (typing)
    uint64_t psize;   // pointee size when it can type an object, else 0
  };
  struct Ops {
    uint32_t n;
    Op op[48];
  };
  bool compile(uint32_t ts, uint32_t td, uint32_t soff, uint32_t doff, Ops& out, int depth);
  const Ops* compiled(uint32_t ts, uint32_t td);
  bool apply(const Ops& ops, const uint8_t* s, uint8_t* d);

  // ---- the walk: typing, zeroing or writing one value of type ts into td ----------------
  enum Mode { kType, kZero, kWrite };
  struct PathEntry {
    const char* name;
    uint64_t index;
  };

  void violation(const char* what);

  void walk(uint32_t ts, uint32_t td, const uint8_t* s, uint8_t* d);
  // Members matched by name (added members keep the destination's value, dropped
  // ones vanish), computed once per (source type, destination type):
  // [n, src index, dst index, ...].
  const uint32_t* member_plan(uint32_t ts, uint32_t td, const ImageType& a, const ImageType& b);
  // The destination's run-time site for a source site (same site ID), cached.
  uint64_t dst_site(uint64_t src_site);

  // A global or member the user annotated (annotations.h).
  void by_rule(Rule rule, const uint8_t* s, uint64_t ss, uint8_t* d, uint64_t ds);
  // Does this word hold the address of something the transfer moves (an object of
  // the state, a function, a string literal)?
  bool looks_like_pointer(uint64_t v);
  const LibRange* library(uint64_t v) const;

  void mismatch(uint32_t ts, uint32_t td);

  void bitfield(const ImageMember& ms, const ImageMember& md, const uint8_t* s, uint8_t* d);
  static bool fits(int64_t v, bool vsigned, uint64_t bits, bool dsigned);

  void scalar(uint32_t ts, uint32_t td, const uint8_t* s, uint8_t* d);

  // ---- pointers -----------------------------------------------------------------------------
  void pointer(const ImageType& a, const ImageType& b, const uint8_t* s, uint8_t* d);

  // Destination offset of source offset `off` inside a value of type ts/td.
  bool map_offset(uint32_t ts, uint32_t td, uint64_t off, uint64_t* out, int depth = 0);

  bool translate(uint64_t v, uint64_t* out);
  // A pointer into the source's argument or environment strings: the same string of
  // this process (arguments: the same position too), at the same offset.
  bool process_string(uint64_t v, uint64_t lo, uint64_t hi, bool args, uint64_t* out);
  void target_missing(uint64_t v, const Obj& o);
  bool string_literal(uint64_t v, uint64_t* out);

  // ---- mapping ---------------------------------------------------------------------------------
  bool map_objects();

  // Backward: the origin_id of a source (F) heap object that needs a counterpart in R, else 0.
  uint64_t origin_of(const Obj& o) const;
  // Backward: one walk of R's lists against the table in order; sets dst (and clips
  // dst_size to R's object) for every object whose counterpart comes in order.
  bool merge_counterparts();

  // ---- F's own start-up heap objects ------------------------------------------------------
  // Forward only: a global's pointer the transfer overwrites may hold an object v2's
  // start-up allocated (origin_id 0, the program's own site). Such objects are freed
  // after the transfer unless some global of F still points to them.
  bool index_startup_objects();
  void startup_add(uint64_t addr);
  void supersede(uint64_t old, uint64_t now);
  void free_superseded();

  // ---- words the kernel holds (epoll registrations' data) --------------------------------------
  // Each that points into the state is translated like a pointer; the others (fd
  // numbers, small ids) are kept.
  void translate_kernel_words();

  // ---- writing -----------------------------------------------------------------------------------
  void write_objects();
  // One object written into `d` (backward: a scratch image, zeroed where written).
  void write_one(Obj& o, uint8_t* d);
  uint8_t* backward_buffer(uint64_t n);
  // Stores the 8-byte words (then bytes) of `image` that differ from `d`.
  static void store_changed(uint8_t* d, const uint8_t* image, uint64_t n);

  const Config& c_;
  const Env& e_;
  Out out_;
  Annotations ann_;
  Result r_;
  Obj* objs_ = nullptr;
  mutable const Region* last_ = nullptr;
  uint64_t* su_ = nullptr;
  uint64_t su_n_ = 0, su_cap_ = 0;
  uint32_t n_ = 0, nglobals_ = 0;
  uint32_t* sorted_ = nullptr;
  uint64_t* sorted_addr_ = nullptr;
  uint8_t* hasptr_ = nullptr;
  uint32_t* cp_ = nullptr;
  struct Memo {
    uint64_t key;
    uint64_t v;
  };
  Memo* flat_ = nullptr;
  struct PlanSlot {
    uint64_t key;
    uint32_t* plan;
  };
  PlanSlot* plans_ = nullptr;
  struct SiteSlot {
    uint64_t src, dst;
  };
  SiteSlot* sites_ = nullptr;
  struct CompiledSlot {
    uint64_t key;
    uint64_t state;
    Ops* ops;
  };
  CompiledSlot compiled_[256] = {};
  uint32_t* queue_ = nullptr;
  uint32_t qn_ = 0;
  uint32_t sweep_pos_ = 0xffffffffu;
  void* site_ts_ = nullptr;
  Mode mode_ = kType;
  uint32_t cur_ = 0;
  uint64_t kernel_index_ = 0;
  uint64_t lib_memo_v_ = 0, lib_memo_out_ = 0;  // the last pointer translated by symbol
  uint8_t* bwd_buf_ = nullptr;                   // backward: the image of one object
  uint64_t bwd_cap_ = 0;
  PathEntry path_[32];
  uint32_t depth_ = 0;
};

}  // namespace ttst::stfw::engine_detail

#endif
