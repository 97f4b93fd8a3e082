// engine.cc — see engine.h. Phases: index (source heap walk, globals, object table),
// type (typed pointers from globals, then per-site types), map (allocate in F /
// find in R by origin ID), write (type transformation + pointer translation).
#include "stfw/xfer/engine.h"

#include "stfw/runtime/ttst_heap_reader.h"
#include "stfw/stfw_task.h"
#include "stfw/xfer/annotations.h"

// Placement construction without <new> (not available freestanding).
struct EngineTag {};
inline void* operator new(size_t, void* p, EngineTag) noexcept { return p; }
inline void operator delete(void*, void*, EngineTag) noexcept {}

namespace ttst::stfw {
namespace {

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

void copy(void* d, const void* s, uint64_t n) {
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
void zero(void* d, uint64_t n) {
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
uint64_t ld(const uint8_t* p, uint64_t n) {
  uint64_t v = 0;
  for (uint64_t i = 0; i < n && i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}
void st(uint8_t* p, uint64_t n, uint64_t v) {
  for (uint64_t i = 0; i < n && i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}
bool streq(const char* a, const char* b) { return View::compare(a, b) == 0; }

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
    char tmp[24];
    int n = 0;
    do tmp[n++] = char('0' + v % 10), v /= 10;
    while (v);
    char r[24];
    for (int i = 0; i < n; ++i) r[i] = tmp[n - 1 - i];
    r[n] = 0;
    return s(r);
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
  Out& fail(int status, const char* what) {
    if (r_.status == 0) {
      r_.status = status;
      out_.used = 0;
      return out_.s(what);
    }
    static char sink[1];
    static Out dummy{sink, 0};
    return dummy;
  }
  bool failed() const { return r_.status != 0; }
  Result finish() {
    if (r_.status != 0) out_.end();
    r_.out_used = out_.used;
    return r_;
  }

  template <class T>
  T* alloc(uint64_t n) {
    void* p = e_.scratch(e_.ctx, n * sizeof(T) + 16);
    if (!p) fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: the agent's arena is exhausted (give it a larger heap)");
    return static_cast<T*>(p);
  }

  // ---- source memory ----------------------------------------------------------
  const uint8_t* src(uint64_t addr, uint64_t len) const {
    if (last_ && addr - last_->addr <= last_->size && len <= last_->size - (addr - last_->addr))
      return last_->local + (addr - last_->addr);  // most lookups hit the heap's region again
    uint64_t lo = 0, hi = c_.region_count;
    while (lo < hi) {
      uint64_t mid = lo + (hi - lo) / 2;
      if (c_.regions[mid].addr <= addr) lo = mid + 1;
      else hi = mid;
    }
    if (lo == 0) return nullptr;
    const Region& r = c_.regions[lo - 1];
    if (addr - r.addr > r.size || len > r.size - (addr - r.addr)) return nullptr;
    last_ = &r;
    return r.local + (addr - r.addr);
  }
  static const void* src_tr(void* ctx, uint64_t addr, uint64_t len) { return static_cast<Engine*>(ctx)->src(addr, len); }
  static const void* self_tr(void*, uint64_t addr, uint64_t) { return reinterpret_cast<const void*>(addr); }

  // ---- types ----------------------------------------------------------------------
  const View& sm() const { return c_.src_meta; }
  const View& dm() const { return c_.dst_meta; }
  uint64_t tsize(const View& v, uint32_t t) const {
    const ImageType& ty = v.type(v.strip(t));
    if (ty.kind == kArray) return ty.count == dwarfmeta::image::kFlexibleCount ? 0 : ty.count * tsize(v, ty.target);
    return ty.size;
  }
  // Does the source type hold a pointer the transfer must translate?
  // (Unions holding pointers and intptr_t/uintptr_t values count: both may need
  // an annotation, so their bytes are never copied blindly.)
  bool has_pointer(uint32_t t0) {
    if (t0 >= sm().type_count()) return false;
    uint8_t& m = hasptr_[t0];
    if (m) return m == 2;
    uint32_t t = sm().strip(t0);
    const ImageType& ty = sm().type(t);
    bool r = is_intptr(sm(), t0);
    if (ty.kind == kPointer) r = true;
    else if (ty.kind == kArray) r = r || has_pointer(ty.target);
    else if (ty.kind == kStruct || ty.kind == kUnion)
      for (uint32_t i = 0; i < sm().member_count(ty) && !r; ++i) r = has_pointer(sm().members(ty)[i].type);
    m = r ? 2 : 1;
    return r;
  }
  // intptr_t / uintptr_t (through any typedefs or qualifiers): an integer meant to
  // hold an address.
  static bool is_intptr(const View& v, uint32_t t) {
    for (int guard = 0; guard < 16; ++guard) {
      const ImageType& ty = v.type(t);
      if (ty.kind < kTypedef || ty.kind > 11) return false;
      if (ty.kind == kTypedef && ty.name != dwarfmeta::image::kNone &&
          (streq(v.str(ty.name), "intptr_t") || streq(v.str(ty.name), "uintptr_t")))
        return true;
      t = ty.target;
    }
    return false;
  }
  // Which image is the newer version's: the annotations need to know.
  bool src_newer() const { return c_.backward; }
  bool annotated(uint32_t ts, uint32_t td) const {
    return ann_.type_annotated(src_newer(), ts) || ann_.type_annotated(!src_newer(), td);
  }
  Rule member_rule(uint32_t ts, uint32_t si, uint32_t td, uint32_t di) const {
    Rule r = ann_.member_rule(src_newer(), ts, si);
    return r != kRuleDefault ? r : ann_.member_rule(!src_newer(), td, di);
  }
  // Identical layout and no pointer: the bytes are copied as they are.
  bool same_flat(uint32_t ts, uint32_t td, int depth = 0) {
    ts = sm().strip(ts), td = dm().strip(td);
    uint64_t key = (uint64_t(ts) << 32) | td;
    uint64_t h = (key * 0x9e3779b97f4a7c15ull) >> 52;  // 4096 slots
    for (uint64_t k = 0; k < 4096; ++k) {
      Memo& m = flat_[(h + k) & 4095];
      if (m.v == 0) break;
      if (m.key == key) return m.v == 2;
    }
    const ImageType& a = sm().type(ts);
    const ImageType& b = dm().type(td);
    bool r = depth < 32 && a.kind == b.kind && a.size == b.size && !has_pointer(ts);
    if (r) {
      if (a.kind == kBase) r = a.encoding == b.encoding;
      else if (a.kind == kEnum) {
        r = sm().enumerator_count(a) == dm().enumerator_count(b);
        for (uint32_t i = 0; r && i < sm().enumerator_count(a); ++i)
          r = sm().enumerators(a)[i].value == dm().enumerators(b)[i].value &&
              streq(sm().str(sm().enumerators(a)[i].name), dm().str(dm().enumerators(b)[i].name));
      } else if (a.kind == kArray) r = a.count == b.count && same_flat(a.target, b.target, depth + 1);
      else if (a.kind == kStruct) {
        r = sm().member_count(a) == dm().member_count(b) && !annotated(ts, td);
        for (uint32_t i = 0; r && i < sm().member_count(a); ++i) {
          const ImageMember& x = sm().members(a)[i];
          const ImageMember& y = dm().members(b)[i];
          r = x.offset == y.offset && x.bit_size == y.bit_size && x.bit_offset == y.bit_offset &&
              streq(sm().str(x.name), dm().str(y.name)) && same_flat(x.type, y.type, depth + 1);
        }
      }
    }
    for (uint64_t k = 0; k < 4096; ++k) {
      Memo& m = flat_[(h + k) & 4095];
      if (m.v == 0 || m.key == key) {
        m.key = key, m.v = r ? 2 : 1;
        break;
      }
    }
    return r;
  }
  // The destination type that corresponds to a source type (by name), 0 if none.
  uint32_t counterpart(uint32_t t, int depth = 0) {
    if (t == 0 || depth > 16) return 0;
    uint32_t& m = cp_[t];
    if (m != 0xffffffffu) return m;
    const ImageType& a = sm().type(t);
    uint32_t found = 0;
    const char* name = a.name == dwarfmeta::image::kNone ? nullptr : sm().str(a.name);
    uint32_t target = (a.kind == kPointer || (a.kind >= 8 && a.kind <= 11)) ? counterpart(a.target, depth + 1) : 0;
    for (uint32_t i = 1; i < dm().type_count() && !found; ++i) {
      const ImageType& b = dm().type(i);
      if (b.kind != a.kind) continue;
      if (name) {
        if (b.name != dwarfmeta::image::kNone && streq(dm().str(b.name), name) && !(b.flags & 1)) found = i;
      } else if (a.kind == kPointer || (a.kind >= 8 && a.kind <= 11)) {
        if (b.target == target && (target != 0 || sm().strip(a.target) == 0)) found = i;
      } else if (a.kind == kArray) {
        if (b.count == a.count && b.target == counterpart(a.target, depth + 1)) found = i;
      }
    }
    m = found;
    return found;
  }
  const char* type_name(const View& v, uint32_t t) const {
    const ImageType& ty = v.type(t);
    if (ty.name != dwarfmeta::image::kNone) return v.str(ty.name);
    if (ty.kind == kPointer) return "pointer";
    if (ty.kind == kArray) return "array";
    return "anonymous type";
  }

  // ---- object table ------------------------------------------------------------------
  bool index() {
    const char* why = nullptr;
    if (!sm().valid() || !dm().valid()) return fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: metadata image missing"), false;
    (void)why;
    hasptr_ = alloc<uint8_t>(sm().type_count());
    cp_ = alloc<uint32_t>(sm().type_count());
    flat_ = alloc<Memo>(4096);
    plans_ = alloc<PlanSlot>(16384);
    sites_ = alloc<SiteSlot>(1024);
    if (failed()) return false;
    zero(plans_, 16384 * sizeof(PlanSlot));
    zero(sites_, 1024 * sizeof(SiteSlot));
    zero(hasptr_, sm().type_count());
    for (uint32_t i = 0; i < sm().type_count(); ++i) cp_[i] = 0xffffffffu;
    zero(flat_, 4096 * sizeof(Memo));
    const dwarfmeta::image::ImageAnnotation* bad = nullptr;
    bool bad_newer = false;
    const View& older = c_.backward ? dm() : sm();
    const View& newer = c_.backward ? sm() : dm();
    if (!ann_.init(older, newer, e_.scratch, e_.ctx, &bad, &bad_newer)) {
      if (!bad) return fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: the agent's arena is exhausted (give it a larger heap)"), false;
      const View& v = bad_newer ? newer : older;
      static const char* const kinds[] = {"", "IXFER", "PXFER", "RENAMED_FROM", "NO_TRANSFER"};
      fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: annotation TTST_").s(kinds[bad->kind]).s("(").s(v.str(bad->target))
          .s(") in ").s(v.str(bad->file)).s(" names nothing in ").s(bad_newer ? "v2" : "v1")
          .s("'s metadata: fix the annotation");
      return false;
    }
    const ttst_runtime* rt = reinterpret_cast<const ttst_runtime*>(src(c_.src_runtime, sizeof(ttst_runtime)));
    if (!rt || rt->magic != TTST_RUNTIME_MAGIC) {
      fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: no ttst runtime block at ").x(c_.src_runtime).s(" in the source (built with ttst-cc?)");
      return false;
    }
    uint64_t live = 0;
    for (uint32_t s = 0; s < TTST_HEAP_STRIPES; ++s) live += rt->stripes[s].live;
    uint64_t cap = live + sm().global_count();
    objs_ = alloc<Obj>(cap);
    if (failed()) return false;
    // Globals: every global of the source with an address (thread-local ones in the
    // main thread's block, when both blocks are known).
    bool tls = c_.src_tls && c_.dst_tls;
    for (uint32_t i = 0; i < sm().global_count(); ++i) {
      const ImageGlobal& g = sm().global_at(i);
      if ((g.tls && !tls) || g.size == 0) continue;
      // The runtime's own state (heap lists, flags) belongs to each process.
      if (streq(sm().str(g.file), "ttst_runtime.c")) continue;
      Obj& o = objs_[n_++];
      zero(&o, sizeof o);
      o.addr = g.addr + (g.tls ? c_.src_tls : c_.src_bias), o.size = g.size, o.ts = g.type, o.g = i, o.dg = 0xffffffffu;
      o.flags = kGlobal | (g.readonly ? kReadonly : 0);
      const char* id = sm().str(g.id);
      const char* renamed = c_.backward ? ann_.older_id(id) : ann_.newer_id(id);
      const ImageGlobal* d = dm().global(renamed ? renamed : id);
      Rule rule = ann_.global_rule(id);
      if (rule == kRuleDefault && d) rule = ann_.global_rule(dm().str(d->id));
      o.flags |= uint32_t(rule) << kRuleShift;
      if (d && d->tls == g.tls) {
        o.dg = uint32_t(d - &dm().global_at(0));
        o.td = d->type, o.dst = d->addr + (d->tls ? c_.dst_tls : c_.dst_bias), o.dst_size = d->size;
      }
    }
    nglobals_ = n_;
    int64_t walked = ttst_heap_walk(c_.src_runtime, &Engine::src_tr, this, &Engine::visit, this);
    if (walked < 0) {
      fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: the source's heap lists are unreadable (walk error ").i(walked).s(")");
      return false;
    }
    if (failed()) return false;
    if (walked_) walked_->next = nullptr;
    // Globals come first, sorted by ID; the heap lists are newest first, which is
    // usually descending addresses: reversed, the heap is often already in order,
    // and then the (few) globals, insertion-sorted, are merged in: no key arrays.
    auto order = [this](uint32_t i) { return i < nglobals_ ? i : n_ - 1 - (i - nglobals_); };
    if (walk_descending_) {
      uint32_t* g = alloc<uint32_t>(nglobals_ + 1);
      sorted_ = alloc<uint32_t>(n_);
      sorted_addr_ = alloc<uint64_t>(n_);
      if (failed()) return false;
      for (uint32_t i = 0; i < nglobals_; ++i) {
        uint32_t j = i;
        for (; j > 0 && objs_[g[j - 1]].addr > objs_[i].addr; --j) g[j] = g[j - 1];
        g[j] = i;
      }
      uint32_t gi = 0, hi = nglobals_;
      for (uint32_t k = 0; k < n_; ++k) {
        bool take_global = gi < nglobals_ && (hi == n_ || objs_[g[gi]].addr <= objs_[order(hi)].addr);
        uint32_t x = take_global ? g[gi++] : order(hi++);
        sorted_[k] = x, sorted_addr_[k] = objs_[x].addr;
      }
      return true;
    }
    // Otherwise: LSD radix sort of (address, index) keys, 16 bits per pass over the
    // 48 bits of a user-space address.
    struct Key {
      uint64_t addr;
      uint64_t idx;
    };
    Key* ka = alloc<Key>(n_);
    Key* kb = alloc<Key>(n_);
    uint32_t* cnt = alloc<uint32_t>(65536);
    if (failed()) return false;
    for (uint32_t i = 0; i < n_; ++i) ka[i] = {objs_[order(i)].addr, order(i)};
    for (int pass = 0; pass < 3; ++pass) {
      zero(cnt, 65536 * 4);
      for (uint32_t i = 0; i < n_; ++i) cnt[(ka[i].addr >> (16 * pass)) & 0xffff]++;
      uint32_t sum = 0;
      for (uint32_t k = 0; k < 65536; ++k) {
        uint32_t t = cnt[k];
        cnt[k] = sum, sum += t;
      }
      for (uint32_t i = 0; i < n_; ++i) kb[cnt[(ka[i].addr >> (16 * pass)) & 0xffff]++] = ka[i];
      Key* t = ka;
      ka = kb, kb = t;
    }
    uint32_t* a = alloc<uint32_t>(n_);
    sorted_addr_ = alloc<uint64_t>(n_);
    if (failed()) return false;
    for (uint32_t i = 0; i < n_; ++i) a[i] = uint32_t(ka[i].idx), sorted_addr_[i] = ka[i].addr;
    sorted_ = a;
    return true;
  }
  static int visit(void* ctx, uint64_t addr, const ttst_heap_desc* d) {
    Engine* e = static_cast<Engine*>(ctx);
    Obj& o = e->objs_[e->n_++];
    zero(&o, sizeof o);
    o.addr = addr, o.size = d->size, o.dyn_id = d->dyn_id, o.site = d->site;
    // A block the transfer allocated (origin_id set) is the program's even when its
    // site no longer exists in this version (site 0 makes the runtime say FROM_LIB).
    o.flags = d->origin_id ? 0 : (d->flags & kLib);
    o.g = o.dg = 0xffffffffu;
    // The copy is ours: its descriptor's `prev` (already checked by the walk) now
    // names the object, so a base pointer finds its object with one read.
    const_cast<ttst_heap_desc*>(d)->prev = reinterpret_cast<ttst_heap_desc*>(kIndexTag | (e->n_ - 1));
    const_cast<ttst_heap_desc*>(d)->offset = 0;  // not typed yet
    // `next` (no mapping yet) is cleared one step behind the walk, which follows it.
    if (e->walked_) {
      e->walked_->next = nullptr;
      walk_ahead(d, e->walked_);
    }
    e->walked_ = const_cast<ttst_heap_desc*>(d);
    if (e->n_ > e->nglobals_ + 1 && addr > e->objs_[e->n_ - 2].addr) e->walk_descending_ = false;
    return 0;
  }
  // The walk chases one link per object; blocks allocated one after another lie at a
  // constant stride, which the hardware prefetchers lose at each page boundary: the
  // descriptor that many steps down the same stride is requested ahead (a hint only,
  // never read here).
  static void walk_ahead(const ttst_heap_desc* d, const ttst_heap_desc* before) {
    int64_t stride = reinterpret_cast<const char*>(d) - reinterpret_cast<const char*>(before);
    if (stride > -4096 && stride < 4096) __builtin_prefetch(reinterpret_cast<const char*>(d) + 16 * stride);
  }
  ttst_heap_desc* walked_ = nullptr;
  bool walk_descending_ = true;

  // The object holding source address v (one past its end counts), or -1.
  // The copy's descriptor of the heap object whose base address is v, or NULL.
  // After indexing, its `prev` holds the object's index, `next` (after mapping) the
  // destination address, `offset` the source type + 1 once typed: the hot paths
  // read one cache line of the copy instead of the object table.
  ttst_heap_desc* base_desc(uint64_t v) const {
    if (v & 7) return nullptr;  // not a block's base (16-byte aligned); its descriptor would be read misaligned
    const uint8_t* p = v > kDesc ? src(v - kDesc, kDesc) : nullptr;
    if (!p) return nullptr;
    ttst_heap_desc* d = reinterpret_cast<ttst_heap_desc*>(const_cast<uint8_t*>(p));
    uint64_t tag = reinterpret_cast<uint64_t>(d->prev);
    if (d->magic == TTST_HEAP_LIVE && (tag & ~0xffffffffull) == kIndexTag && (tag & 0xffffffffu) < n_) return d;
    return nullptr;
  }
  void set_dst_in_copy(uint64_t addr, uint64_t dst) {
    if (ttst_heap_desc* d = base_desc(addr)) d->next = reinterpret_cast<ttst_heap_desc*>(dst);
  }
  int64_t find(uint64_t v) const {
    if (const ttst_heap_desc* d = base_desc(v)) return int64_t(reinterpret_cast<uint64_t>(d->prev) & 0xffffffffu);
    uint64_t lo = 0, hi = n_;
    while (lo < hi) {
      uint64_t mid = lo + (hi - lo) / 2;
      if (sorted_addr_[mid] <= v) lo = mid + 1;
      else hi = mid;
    }
    if (lo == 0) return -1;
    const Obj& o = objs_[sorted_[lo - 1]];
    if (v - o.addr <= o.size && o.size > 0) return sorted_[lo - 1];
    return -1;
  }

  // The value being transferred: an object of the state, or a word the kernel holds.
  static constexpr uint32_t kKernelWord = 0xffffffffu;
  void describe_cur() {
    if (cur_ == kKernelWord) out_.s("the data of epoll registration #").u(kernel_index_);
    else describe(out_, objs_[cur_], false);
  }
  void describe(Out& o, const Obj& x, bool dst) {
    if (x.flags & kGlobal) {
      o.s(sm().str(sm().global_at(x.g).id));
    } else {
      const auto* s = sm().alloc_site(x.site - c_.src_bias);
      o.s("heap object #").u(x.dyn_id).s(" (").u(x.size).s(" bytes, site ");
      if (s) o.s(sm().str(s->id));
      else o.x(x.site);
      o.s(")");
    }
    (void)dst;
  }
  void describe_path(Out& o) {
    for (uint32_t i = 0; i < depth_; ++i) {
      if (path_[i].name) o.s(".").s(path_[i].name);
      else o.s("[").u(path_[i].index).s("]");
    }
  }

  // ---- typing ---------------------------------------------------------------------------
  bool type_objects() {
    queue_ = alloc<uint32_t>(2 * uint64_t(n_) + 1);
    site_ts_ = nullptr;
    if (failed()) return false;
    // Globals first (their targets are only marked), then one sweep over the heap
    // objects in table order (≈ address order, so mostly sequential): an object typed
    // by one already behind the sweep goes on the stack and is processed at once.
    sweep_pos_ = nglobals_;
    for (uint32_t i = 0; i < nglobals_; ++i)
      if (!(objs_[i].flags & (kReadonly | kRuleMask)) && objs_[i].dg != 0xffffffffu) push(i);
    drain();
    mode_ = kType;
    for (uint32_t i = nglobals_; i < n_ && !failed(); ++i) {
      sweep_pos_ = i + 1;
      if (!(objs_[i].flags & kQueued)) continue;
      prefetch_targets(i + 2 * kAhead, false);
      prefetch_targets(i + kAhead, true);
      cur_ = i;
      each_element(objs_[i], nullptr);
      learn_site_ops(objs_[i]);
      drain();
    }
    sweep_pos_ = 0xffffffffu;
    if (failed()) return false;
    // Objects reached only through void * / char *: a site's learnt type, else its hint.
    for (int round = 0; round < 4; ++round) {
      round_ = uint32_t(round);
      bool more = false;
      for (uint32_t i = nglobals_; i < n_; ++i) {
        Obj& o = objs_[i];
        if (o.ts != 0 || (o.flags & kLib)) continue;
        uint32_t ts = 0, td = 0;
        const auto* s = sm().alloc_site(o.site - c_.src_bias);
        if (s) {
          if (wrapper_site(*s)) continue;  // one site for every type its callers want: no guess
          const auto* learnt = learnt_site(o.site);
          if (learnt == &polymorphic_) continue;  // the site allocates several types: no guess
          if (learnt) ts = learnt->ts, td = learnt->td;
          else if (s->type) {
            ts = s->type;
            td = counterpart(ts);
          }
        }
        if (ts && td && tsize(sm(), ts) > 0 && o.size % tsize(sm(), ts) == 0) {
          o.ts = ts, o.td = td;
          push(i);
          more = true;
        }
      }
      drain();
      if (failed()) return false;
      if (!more) break;
    }
    return true;
  }
  // A typed object of the same allocation site (memoised per round: one scan of
  // the table per distinct site, not per untyped object); &polymorphic_ when the
  // site's typed objects disagree (an allocation wrapper such as xmalloc: its one
  // site serves every type, so its other objects' types cannot be guessed).
  Obj polymorphic_{};  // the sentinel learnt_site returns for such a site
  const Obj* learnt_site(uint64_t site) {
    LearntSlot& c = learnt_[(site >> 2) & 1023];
    if (c.round == round_ + 1 && c.site == site)
      return c.idx == 0xffffffffu ? nullptr : c.idx == 0xfffffffeu ? &polymorphic_ : &objs_[c.idx];
    uint32_t found = 0xffffffffu;
    for (uint32_t i = nglobals_; i < n_ && found != 0xfffffffeu; ++i) {
      const Obj& x = objs_[i];
      if (x.site != site || x.ts == 0 || (x.flags & kLib)) continue;
      if (found == 0xffffffffu) found = i;
      else if (sm().strip(objs_[found].ts) != sm().strip(x.ts)) found = 0xfffffffeu;
    }
    c.site = site, c.idx = found, c.round = round_ + 1;
    return found == 0xffffffffu ? nullptr : found == 0xfffffffeu ? &polymorphic_ : &objs_[found];
  }
  bool polymorphic_site(uint64_t site) {
    const auto* s = sm().alloc_site(site - c_.src_bias);
    return (s && wrapper_site(*s)) || learnt_site(site) == &polymorphic_;
  }
  // A site inside an allocation wrapper: a function returning void * (xmalloc), or
  // one the user annotated TTST_ALLOCATOR. Its objects are of whatever type each
  // caller wanted, so neither its typed objects nor dwarfmeta's hint type the rest.
  bool wrapper_site(const dwarfmeta::image::ImageAllocSite& s) const {
    const char* caller = sm().str(s.caller);
    for (uint32_t i = 0; i < sm().annotation_count(); ++i)
      if (sm().annotation(i).kind == 5 && streq(sm().str(sm().annotation(i).target), caller)) return true;
    const auto* f = sm().function(caller);
    if (!f) return false;
    const ImageType& rt = sm().type(sm().strip(f->return_type));
    return rt.kind == kPointer && sm().strip(rt.target) == 0;
  }
  struct LearntSlot {
    uint64_t site;
    uint32_t idx, round;
  };
  LearntSlot learnt_[1024] = {};
  uint32_t round_ = 0;
  void push(uint32_t i) {
    if (objs_[i].flags & kQueued) return;
    objs_[i].flags |= kQueued;
    if (i >= sweep_pos_) return;  // the sweep will reach it
    queue_[qn_++] = i;
  }
  void drain() {
    mode_ = kType;
    while (qn_ > 0 && !failed()) {
      uint32_t i = queue_[--qn_];
      Obj& o = objs_[i];
      cur_ = i;
      each_element(o, nullptr);
      learn_site_ops(o);
    }
  }
  // Runs the walk over every element of an object (heap arrays) or the global.
  void each_element(const Obj& o, uint8_t* d) {
    const uint8_t* s = src(o.addr, o.size);
    if (!s) {
      fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: ");
      describe(out_, o, false);
      out_.s(" is not in the copy of the source's memory");
      return;
    }
    depth_ = 0;
    if (o.flags & kGlobal) {
      walk(o.ts, o.td, s, d);
      return;
    }
    const PairFacts& f = pair_facts(o.ts, o.td);
    uint64_t es = f.es, ed = f.ed;
    if (es == 0) return;
    uint64_t count = o.size / es;
    if (mode_ == kType && !f.ptr) return;
    if (mode_ != kType && f.flat) {
      if (mode_ == kWrite) copy(d, s, count * es), r_.bytes += count * es;
      else zero(d, count * es);
      return;
    }
    const Ops* ops = f.ops;
    for (uint64_t k = 0; k < count && !failed(); ++k) {
      if (ops && k + kAhead < count) prefetch_ops(*ops, s + (k + kAhead) * es, false);
      if (ops && apply(*ops, s + k * es, d ? d + k * ed : nullptr)) continue;
      path_[0].name = nullptr, path_[0].index = k, depth_ = 1;
      walk(o.ts, o.td, s + k * es, d ? d + k * ed : nullptr);
    }
    depth_ = 0;
  }

  struct Ops;
  // What each_element needs per (source, destination) element type, memoised for the
  // last pair (heap objects of one type come in runs).
  struct PairFacts {
    uint32_t ts, td;
    uint64_t es, ed;
    bool ptr, flat;
    const Ops* ops;
  };
  const PairFacts& pair_facts(uint32_t ts, uint32_t td) {
    if (pf_valid_ && pf_.ts == ts && pf_.td == td) return pf_;
    pf_.ts = ts, pf_.td = td;
    pf_.es = tsize(sm(), ts), pf_.ed = tsize(dm(), td);
    pf_.ptr = has_pointer(ts);
    pf_.flat = same_flat(ts, td);
    pf_.ops = pf_.es ? compiled(ts, td) : nullptr;
    pf_valid_ = !failed();
    return pf_;
  }

  // Memory-level parallelism for the sweeps over the object table: the random reads
  // are the pointer targets' descriptors (and, while typing, their table entries).
  // They are requested kAhead objects early. While typing, an object ahead may not
  // be typed yet: the layout of its site's last typed object is used (only a hint).
  static constexpr uint32_t kAhead = 8;
  void prefetch_ops(const Ops& ops, const uint8_t* s, bool deep) {
    for (uint32_t k = 0; k < ops.n; ++k) {
      const Op& op = ops.op[k];
      if (op.kind != 1) continue;
      uint64_t v;
      __builtin_memcpy(&v, s + op.soff, 8);
      if (v < 4096 + kDesc) continue;
      if (!deep) {
        if (const uint8_t* p = src(v - kDesc, kDesc)) __builtin_prefetch(p);
      } else if (const ttst_heap_desc* bd = base_desc(v)) {
        __builtin_prefetch(&objs_[reinterpret_cast<uint64_t>(bd->prev) & 0xffffffffu]);
      }
    }
  }
  void prefetch_targets(uint32_t i, bool deep) {
    if (i >= n_) return;
    const Obj& o = objs_[i];
    if (o.flags & (kGlobal | kLib)) return;
    const Ops* ops = nullptr;
    if (o.ts) {
      const PairFacts& f = pair_facts(o.ts, o.td);
      if (f.es == 0 || o.size < f.es) return;
      ops = f.ops;
    } else {
      const SiteOps& c = site_ops_[(o.site >> 4) & 255];
      if (c.site != o.site || o.size < c.size) return;
      ops = c.ops;
    }
    if (!ops) return;
    if (const uint8_t* s = src(o.addr, o.size)) prefetch_ops(*ops, s, deep);
  }
  void learn_site_ops(const Obj& o) {
    if (o.ts == 0 || (o.flags & (kGlobal | kLib))) return;
    const PairFacts& f = pair_facts(o.ts, o.td);
    SiteOps& c = site_ops_[(o.site >> 4) & 255];
    c.site = o.site, c.size = f.es, c.ops = f.ops;
  }
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
  bool compile(uint32_t ts, uint32_t td, uint32_t soff, uint32_t doff, Ops& out, int depth) {
    ts = sm().strip(ts), td = dm().strip(td);
    const ImageType& a = sm().type(ts);
    const ImageType& b = dm().type(td);
    if (depth > 8 || out.n >= 47) return false;
    if (a.kind == kUnion && has_pointer(ts)) return false;
    if (a.kind == kStruct && annotated(ts, td)) return false;
    if (same_flat(ts, td) || (a.kind == kUnion && b.kind == kUnion)) {
      uint32_t n = uint32_t(a.size < b.size ? a.size : b.size);
      if (out.n > 0) {  // merge with the previous copy when contiguous on both sides
        Op& last = out.op[out.n - 1];
        if (last.kind == 0 && last.soff + last.size == soff && last.doff + last.size == doff) return last.size += n, true;
      }
      out.op[out.n++] = Op{0, n, soff, doff, 0, 0, 0};
      return true;
    }
    if (a.kind == kPointer && b.kind == kPointer) {
      uint32_t ps = sm().strip(a.target);
      uint32_t pd = dm().strip(b.target);
      if (pd == 0 && ps != 0) pd = counterpart(ps);
      const ImageType& pt = sm().type(ps);
      uint64_t psize = (ps != 0 && pt.kind != kFunc && pt.size > 0) ? pt.size : 0;
      out.op[out.n++] = Op{1, 8, soff, doff, ps, pd, psize};
      return true;
    }
    if (a.kind == kStruct && b.kind == kStruct) {
      const uint32_t* plan = member_plan(ts, td, a, b);
      if (!plan) return false;
      for (uint32_t i = 0; i < plan[0]; ++i) {
        const ImageMember& ms = sm().members(a)[plan[1 + 2 * i]];
        const ImageMember& md = dm().members(b)[plan[2 + 2 * i]];
        if (ms.bit_size || md.bit_size) return false;
        if (!compile(ms.type, md.type, soff + uint32_t(ms.offset), doff + uint32_t(md.offset), out, depth + 1)) return false;
      }
      return true;
    }
    return false;
  }
  const Ops* compiled(uint32_t ts, uint32_t td) {
    uint64_t key = (uint64_t(ts) << 32) | td;
    uint64_t h = (key * 0x9e3779b97f4a7c15ull) >> 56;  // 256 slots
    for (uint64_t k = 0; k < 256; ++k) {
      CompiledSlot& m = compiled_[(h + k) & 255];
      if (m.state == 0) {
        m.key = key, m.state = 1, m.ops = nullptr;
        Ops* ops = alloc<Ops>(1);
        if (!ops) return nullptr;
        ops->n = 0;
        if (compile(ts, td, 0, 0, *ops, 0)) m.ops = ops;
        return m.ops;
      }
      if (m.key == key) return m.ops;
    }
    return nullptr;
  }
  bool apply(const Ops& ops, const uint8_t* s, uint8_t* d) {
    // Locals: the byte stores through d may alias any member, which would otherwise
    // be reloaded after each of them.
    const Mode mode = mode_;
    const uint32_t n = ops.n;
    uint64_t bytes = 0, pointers = 0;
    bool ok = true;
    for (uint32_t i = 0; i < n; ++i) {
      const Op op = ops.op[i];
      if (op.kind == 0) {
        if (mode == kWrite) copy(d + op.doff, s + op.soff, op.size), bytes += op.size;
        else if (mode == kZero) zero(d + op.doff, op.size);
        continue;
      }
      uint64_t v;
      __builtin_memcpy(&v, s + op.soff, 8);
      if (mode == kZero) {
        zero(d + op.doff, 8);
        continue;
      }
      if (v < 4096) {
        if (mode == kWrite) __builtin_memcpy(d + op.doff, &v, 8), bytes += 8;
        continue;
      }
      ttst_heap_desc* bd = base_desc(v);
      if (!bd) {
        ok = false;
        break;
      }
      if (mode == kWrite) {
        uint64_t dst = reinterpret_cast<uint64_t>(bd->next);
        if (!dst) {
          ok = false;
          break;
        }
        __builtin_memcpy(d + op.doff, &dst, 8), bytes += 8, pointers++;
        continue;
      }
      // kType
      if (bd->offset == op.ps + 1 || op.psize == 0) continue;
      uint32_t idx = uint32_t(reinterpret_cast<uint64_t>(bd->prev) & 0xffffffffu);
      Obj& o = objs_[idx];
      if (o.ts != 0 || (o.flags & (kGlobal | kLib)) || (o.size != op.psize && o.size % op.psize != 0)) {
        ok = false;
        break;
      }
      o.ts = op.ps, o.td = op.pd;
      bd->offset = op.ps + 1;
      push(idx);
    }
    r_.bytes += bytes, r_.pointers += pointers;
    if (ok && mode == kWrite) r_.transforms++;
    return ok;
  }

  // ---- the walk: typing, zeroing or writing one value of type ts into td ----------------
  enum Mode { kType, kZero, kWrite };
  struct PathEntry {
    const char* name;
    uint64_t index;
  };

  void violation(const char* what) {
    fail(TTST_STFW_STATUS_INVARIANT, "invariant: ");
    describe_cur();
    describe_path(out_);
    out_.s(" ").s(what);
  }

  void walk(uint32_t ts, uint32_t td, const uint8_t* s, uint8_t* d) {
    if (failed()) return;
    if (mode_ == kWrite && is_intptr(sm(), ts) && looks_like_pointer(ld(s, 8))) {
      fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
      describe_cur();
      describe_path(out_);
      out_.s(" = ").x(ld(s, 8)).s(" is a ").s(type_name(sm(), ts))
          .s(" that looks like a pointer: annotate it TTST_PXFER (translate) or TTST_IXFER (copy as is)");
      return;
    }
    ts = sm().strip(ts), td = dm().strip(td);
    const ImageType& a = sm().type(ts);
    const ImageType& b = dm().type(td);
    if (mode_ == kType) {
      if (!has_pointer(ts)) return;
    } else if (same_flat(ts, td)) {
      if (mode_ == kWrite) copy(d, s, a.size), r_.bytes += a.size;
      else zero(d, a.size);
      return;
    }
    if (a.kind == kUnion || b.kind == kUnion) {  // unions as bytes
      if (a.kind != b.kind) return mismatch(ts, td);
      if (mode_ == kType) return;
      if (mode_ == kWrite && has_pointer(ts))  // ... unless a member holds a pointer now
        for (uint32_t i = 0; i < sm().member_count(a); ++i) {
          const ImageMember& m = sm().members(a)[i];
          if (!has_pointer(m.type) || m.offset + 8 > a.size || !looks_like_pointer(ld(s + m.offset, 8))) continue;
          fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
          describe_cur();
          describe_path(out_);
          out_.s(" is a union whose member ").s(sm().str(m.name)).s(" = ").x(ld(s + m.offset, 8))
              .s(" looks like a pointer: annotate the union TTST_PXFER (translate) or TTST_IXFER (copy as is)");
          return;
        }
      uint64_t n = a.size < b.size ? a.size : b.size;
      if (mode_ == kWrite) copy(d, s, n), r_.bytes += n;
      else zero(d, n);
      return;
    }
    if (a.kind != b.kind && !(a.kind == kEnum && b.kind == kBase) && !(a.kind == kBase && b.kind == kEnum))
      return mismatch(ts, td);
    switch (a.kind) {
      case kStruct: {
        if (depth_ >= 30) return;
        r_.transforms++;
        const uint32_t* plan = member_plan(ts, td, a, b);
        if (!plan) return;
        const ImageMember* sms = sm().members(a);
        const ImageMember* dms = dm().members(b);
        for (uint32_t i = 0; i < plan[0] && !failed(); ++i) {
          const ImageMember& ms = sms[plan[1 + 2 * i]];
          const ImageMember& md = dms[plan[2 + 2 * i]];
          path_[depth_].name = dm().str(md.name), path_[depth_].index = 0;
          ++depth_;
          Rule rule = member_rule(ts, plan[1 + 2 * i], td, plan[2 + 2 * i]);
          if (rule != kRuleDefault) by_rule(rule, s + ms.offset, tsize(sm(), ms.type), d ? d + md.offset : nullptr,
                                            tsize(dm(), md.type));
          else if (ms.bit_size || md.bit_size) bitfield(ms, md, s, d);
          else walk(ms.type, md.type, s + ms.offset, d ? d + md.offset : nullptr);
          --depth_;
        }
        return;
      }
      case kArray: {
        uint64_t ca = a.count == dwarfmeta::image::kFlexibleCount ? 0 : a.count;
        uint64_t cb = b.count == dwarfmeta::image::kFlexibleCount ? 0 : b.count;
        uint64_t es = tsize(sm(), a.target), ed = tsize(dm(), b.target);
        uint64_t n = ca < cb ? ca : cb;  // grown: new tail keeps its value; truncated: tail dropped
        if (depth_ >= 30) return;
        for (uint64_t k = 0; k < n && !failed(); ++k) {
          path_[depth_].name = nullptr, path_[depth_].index = k;
          ++depth_;
          walk(a.target, b.target, s + k * es, d ? d + k * ed : nullptr);
          --depth_;
        }
        return;
      }
      case kPointer:
        return pointer(a, b, s, d);
      case kBase:
      case kEnum:
        return scalar(ts, td, s, d);
      default:
        if (mode_ == kWrite && a.size == b.size) copy(d, s, a.size), r_.bytes += a.size;
        else if (mode_ == kZero && a.size == b.size) zero(d, a.size);
        return;
    }
  }
  // Members matched by name (added members keep the destination's value, dropped
  // ones vanish), computed once per (source type, destination type):
  // [n, src index, dst index, ...].
  const uint32_t* member_plan(uint32_t ts, uint32_t td, const ImageType& a, const ImageType& b) {
    uint64_t key = (uint64_t(ts) << 32) | td;
    uint64_t h = (key * 0x9e3779b97f4a7c15ull) >> 50;  // 16384 slots
    for (uint64_t k = 0; k < 16384; ++k) {
      PlanSlot& m = plans_[(h + k) & 16383];
      if (m.plan == nullptr) {
        uint32_t n = dm().member_count(b);
        uint32_t* plan = alloc<uint32_t>(1 + 2 * uint64_t(n));
        if (!plan) return nullptr;
        plan[0] = 0;
        for (uint32_t i = 0; i < n; ++i) {
          const char* name = dm().str(dm().members(b)[i].name);
          int64_t from = -1;
          for (uint32_t j = 0; j < sm().member_count(a) && from < 0; ++j)
            if (streq(sm().str(sm().members(a)[j].name), name)) from = j;
          if (from < 0 && !c_.backward) {  // RENAMED_FROM on v2's member: v1 called it...
            const char* old = ann_.older_member_name(td, i);
            for (uint32_t j = 0; old && j < sm().member_count(a) && from < 0; ++j)
              if (streq(sm().str(sm().members(a)[j].name), old)) from = j;
          } else if (from < 0) {  // backward: the v2 member renamed from this v1 name
            from = ann_.newer_member_renamed_from(ts, name);
          }
          if (from >= 0) plan[1 + 2 * plan[0]] = uint32_t(from), plan[2 + 2 * plan[0]] = i, plan[0]++;
        }
        m.key = key, m.plan = plan;
        return plan;
      }
      if (m.key == key) return m.plan;
    }
    fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: more than 16384 pairs of struct types");
    return nullptr;
  }
  // The destination's run-time site for a source site (same site ID), cached.
  uint64_t dst_site(uint64_t src_site) {
    SiteSlot& c = sites_[(src_site >> 2) & 1023];
    if (c.src == src_site && c.src != 0) return c.dst;
    uint64_t site = 0;
    const auto* s = sm().alloc_site(src_site - c_.src_bias);
    if (s)
      for (uint32_t k = 0; k < dm().site_count(); ++k)
        if (streq(dm().str(dm().site_at(k).id), sm().str(s->id))) {
          site = dm().site_at(k).return_addr + c_.dst_bias;
          break;
        }
    c.src = src_site, c.dst = site;
    return site;
  }

  // A global or member the user annotated (annotations.h).
  void by_rule(Rule rule, const uint8_t* s, uint64_t ss, uint8_t* d, uint64_t ds) {
    if (rule == kRuleSkip || mode_ == kType) return;  // NO_TRANSFER: the destination keeps its value
    uint64_t n = ss < ds ? ss : ds;
    if (mode_ == kZero) return zero(d, n);
    copy(d, s, n), r_.bytes += n;
    if (rule == kRuleBytes) return;
    if (n < 8) {
      fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: ");
      describe_cur();
      describe_path(out_);
      out_.s(" is annotated TTST_PXFER but is smaller than a pointer: fix the annotation");
      return;
    }
    uint64_t out = 0;
    if (translate(ld(s, 8), &out)) st(d, 8, out), r_.pointers++;
  }
  // Does this word hold the address of something the transfer moves (an object of
  // the state, a function, a string literal)?
  bool looks_like_pointer(uint64_t v) {
    if (v < 4096 || v >= 0xfffffffffffff000ull) return false;
    if (find(v) >= 0) return true;
    const auto* f = sm().function_containing(v - c_.src_bias);
    return (f && f->low == v - c_.src_bias) || sm().in_string_ranges(v - c_.src_bias) || library(v);
  }
  const LibRange* library(uint64_t v) const {
    for (uint64_t k = 0; k < c_.lib_count; ++k)
      if (v >= c_.libs[k].src_start && v < c_.libs[k].src_end) return &c_.libs[k];
    return nullptr;
  }

  void mismatch(uint32_t ts, uint32_t td) {
    fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    describe_cur();
    describe_path(out_);
    out_.s(" changed from ").s(type_name(sm(), ts)).s(" to ").s(type_name(dm(), td)).s(": needs transfer code");
  }

  void bitfield(const ImageMember& ms, const ImageMember& md, const uint8_t* s, uint8_t* d) {
    if (mode_ == kType) return;
    uint64_t sb = ms.bit_size ? ms.bit_size : tsize(sm(), ms.type) * 8;
    uint64_t db = md.bit_size ? md.bit_size : tsize(dm(), md.type) * 8;
    uint64_t spos = ms.offset * 8 + ms.bit_offset, dpos = md.offset * 8 + md.bit_offset;
    const ImageType& ta = sm().type(sm().strip(ms.type));
    const ImageType& tb = dm().type(dm().strip(md.type));
    bool ssigned = ta.kind == kBase && (ta.encoding == eSigned || ta.encoding == eSChar);
    bool dsigned = tb.kind == kBase && (tb.encoding == eSigned || tb.encoding == eSChar);
    uint64_t v = 0;
    for (uint64_t i = 0; i < sb; ++i) v |= uint64_t((s[(spos + i) / 8] >> ((spos + i) % 8)) & 1) << i;
    int64_t sv = (ssigned && sb < 64 && (v >> (sb - 1)) & 1) ? int64_t(v | (~0ull << sb)) : int64_t(v);
    if (mode_ == kWrite && !fits(sv, ssigned, db, dsigned)) {
      fail(TTST_STFW_STATUS_INVARIANT, "invariant: ");
      describe_cur();
      describe_path(out_);
      out_.s(" = ").i(sv).s(" does not fit in a ").u(db).s("-bit field (v2's type)");
      return;
    }
    for (uint64_t i = 0; i < db; ++i) {
      uint8_t& byte = d[(dpos + i) / 8];
      uint8_t bit = uint8_t(1u << ((dpos + i) % 8));
      bool on = mode_ == kWrite && (i < 64 ? (uint64_t(sv) >> i) & 1 : sv < 0);
      byte = on ? (byte | bit) : (byte & ~bit);
    }
    r_.bytes += (db + 7) / 8;
  }
  static bool fits(int64_t v, bool vsigned, uint64_t bits, bool dsigned) {
    if (!vsigned && v < 0) {  // an unsigned value above INT64_MAX
      return !dsigned && bits >= 64;
    }
    if (dsigned) return bits >= 64 || (v >= -(int64_t(1) << (bits - 1)) && v < (int64_t(1) << (bits - 1)));
    return v >= 0 && (bits >= 64 || uint64_t(v) < (uint64_t(1) << bits));
  }

  void scalar(uint32_t ts, uint32_t td, const uint8_t* s, uint8_t* d) {
    if (mode_ == kType) return;
    const ImageType& a = sm().type(ts);
    const ImageType& b = dm().type(td);
    if (mode_ == kZero) return zero(d, b.size);
    r_.bytes += b.size;
    bool af = a.kind == kBase && a.encoding == eFloat, bf = b.kind == kBase && b.encoding == eFloat;
    if (af || bf) {
      if (af != bf) return mismatch(ts, td);
      if (a.size == b.size) return copy(d, s, a.size);
      if (a.size == 4 && b.size == 8) {
        float f;
        __builtin_memcpy(&f, s, 4);
        double x = f;
        return copy(d, &x, 8);
      }
      if (a.size == 8 && b.size == 4) {
        double x;
        __builtin_memcpy(&x, s, 8);
        float f = float(x);
        if (double(f) != x && x == x) return violation("loses precision as float (v2's type)");
        return copy(d, &f, 4);
      }
      return mismatch(ts, td);
    }
    // Integers, enums, bool.
    uint64_t raw = ld(s, a.size);
    bool ssigned = a.kind == kEnum || a.encoding == eSigned || a.encoding == eSChar;
    if (a.kind == kEnum) {
      const ImageType& u = sm().type(sm().strip(a.target));
      if (u.kind == kBase && (u.encoding == eUnsigned || u.encoding == eUChar)) ssigned = false;
    }
    int64_t v = (ssigned && a.size < 8 && (raw >> (a.size * 8 - 1)) & 1) ? int64_t(raw | (~0ull << (a.size * 8))) : int64_t(raw);
    if (a.kind == kEnum && b.kind == kEnum) {
      const char* name = nullptr;
      for (uint32_t i = 0; i < sm().enumerator_count(a); ++i)
        if (sm().enumerators(a)[i].value == v) name = sm().str(sm().enumerators(a)[i].name);
      if (name) {
        bool found = false;
        for (uint32_t i = 0; i < dm().enumerator_count(b) && !found; ++i)
          if (streq(dm().str(dm().enumerators(b)[i].name), name)) v = dm().enumerators(b)[i].value, found = true;
        if (!found) {
          fail(TTST_STFW_STATUS_INVARIANT, "invariant: ");
          describe_cur();
          describe_path(out_);
          out_.s(" = ").s(name).s(": enumerator not in v2's ").s(type_name(dm(), td));
          return;
        }
        ssigned = true;
      }
    }
    bool dsigned = b.kind == kEnum || b.encoding == eSigned || b.encoding == eSChar;
    if (b.kind == kBase && b.encoding == eBool) {
      st(d, b.size, v != 0);
      return;
    }
    if (!fits(v, ssigned, b.size * 8, dsigned) && !(b.kind == kEnum)) {
      fail(TTST_STFW_STATUS_INVARIANT, "invariant: ");
      describe_cur();
      describe_path(out_);
      out_.s(" = ");
      if (ssigned) out_.i(v);
      else out_.u(uint64_t(v));
      out_.s(" does not fit in ").s(type_name(dm(), td)).s(" (v2's type)");
      return;
    }
    if (a.size != b.size || a.encoding != b.encoding) r_.transforms++;
    st(d, b.size, uint64_t(v));
  }

  // ---- pointers -----------------------------------------------------------------------------
  void pointer(const ImageType& a, const ImageType& b, const uint8_t* s, uint8_t* d) {
    uint64_t v = ld(s, 8);
    if (mode_ == kZero) return zero(d, 8);
    if (mode_ == kType) {
      if (v < 4096) return;
      ttst_heap_desc* bd = base_desc(v);
      if (bd && bd->offset == sm().strip(a.target) + 1) return;  // already typed so
      int64_t i = bd ? int64_t(reinterpret_cast<uint64_t>(bd->prev) & 0xffffffffu) : find(v);
      if (i < 0) return;
      Obj& o = objs_[i];
      if (o.flags & (kGlobal | kLib)) return;
      uint32_t ps = sm().strip(a.target);
      const ImageType& pt = sm().type(ps);
      if (ps == 0 || pt.kind == kFunc || pt.size == 0) return;
      if (v != o.addr) return;  // only base pointers type an object
      uint32_t pd = dm().strip(b.target);
      if (pd == 0) pd = counterpart(ps);
      if (o.ts == 0 || (tsize(sm(), o.ts) == 1 && pt.size > 1 && pt.kind == kStruct)) {
        if (o.size % pt.size != 0) return;
        o.ts = ps, o.td = pd;
        o.flags &= ~kQueued;
        if (bd) bd->offset = ps + 1;
        push(uint32_t(i));
      } else if (sm().strip(o.ts) != ps && pt.kind == kStruct && sm().type(sm().strip(o.ts)).kind == kStruct) {
        fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
        describe(out_, o, false);
        out_.s(" is reached as ").s(type_name(sm(), sm().strip(o.ts))).s(" * and as ").s(type_name(sm(), ps))
            .s(" * (from ");
        describe_cur();
        describe_path(out_);
        out_.s("): needs transfer code");
      }
      return;
    }
    r_.bytes += 8;
    uint64_t out = 0;
    if (translate(v, &out)) {
      if (!c_.backward && (objs_[cur_].flags & kGlobal)) supersede(ld(d, 8), out);
      st(d, 8, out);
      if (out != v || v >= 4096) r_.pointers++;
    }
  }

  // Destination offset of source offset `off` inside a value of type ts/td.
  bool map_offset(uint32_t ts, uint32_t td, uint64_t off, uint64_t* out, int depth = 0) {
    ts = sm().strip(ts), td = dm().strip(td);
    const ImageType& a = sm().type(ts);
    const ImageType& b = dm().type(td);
    if (off == 0 || depth > 30) return *out = 0, true;
    if (a.kind == kStruct && b.kind == kStruct) {
      for (uint32_t i = 0; i < sm().member_count(a); ++i) {
        const ImageMember& m = sm().members(a)[i];
        uint64_t ms = tsize(sm(), m.type);
        if (m.bit_size || off < m.offset || off - m.offset >= (ms ? ms : 1)) continue;
        const ImageMember* md = dm().member(b, sm().str(m.name));
        if (!md) return false;
        uint64_t inner;
        if (!map_offset(m.type, md->type, off - m.offset, &inner, depth + 1)) return false;
        return *out = md->offset + inner, true;
      }
      if (off == a.size) return *out = b.size, true;
      return false;
    }
    if (a.kind == kArray && b.kind == kArray) {
      uint64_t es = tsize(sm(), a.target), ed = tsize(dm(), b.target);
      if (es == 0) return false;
      uint64_t k = off / es, rem = off % es;
      uint64_t cb = b.count == dwarfmeta::image::kFlexibleCount ? 0 : b.count;
      if (k > cb || (k == cb && rem != 0)) return false;
      uint64_t inner;
      if (!map_offset(a.target, b.target, rem, &inner, depth + 1)) return false;
      return *out = k * ed + inner, true;
    }
    if (off <= b.size) return *out = off, true;
    return false;
  }

  bool translate(uint64_t v, uint64_t* out) {
    if (v < 4096 || v >= 0xfffffffffffff000ull) return *out = v, true;  // NULL and small sentinels
    if (const ttst_heap_desc* bd = base_desc(v))
      if (uint64_t dst = reinterpret_cast<uint64_t>(bd->next)) return *out = dst, true;  // a mapped object's base
    int64_t i = find(v);
    if (i >= 0) {
      Obj& o = objs_[i];
      if (o.dst == 0) return target_missing(v, o), false;
      uint64_t off = v - o.addr, doff = 0;
      bool ok;
      if (o.flags & kGlobal) ok = map_offset(o.ts, o.td, off, &doff);
      else if (o.ts == 0) ok = (doff = off) <= o.dst_size;
      else {
        uint64_t es = tsize(sm(), o.ts), ed = tsize(dm(), o.td);
        uint64_t k = off / es, rem = off % es, inner = 0;
        ok = map_offset(o.ts, o.td, rem, &inner);
        doff = k * ed + inner;
      }
      if (!ok) return target_missing(v, o), false;
      return *out = o.dst + doff, true;
    }
    uint64_t lv = v - c_.src_bias;
    const auto* f = sm().function_containing(lv);
    if (f && f->low == lv) {
      const auto* g = dm().function(sm().str(f->id));
      if (!g) {
        violation("points to function ");
        out_.s(sm().str(f->id)).s(", which v2 no longer has");
        return false;
      }
      return *out = g->low + c_.dst_bias, true;
    }
    if (sm().in_string_ranges(lv)) return string_literal(v, out);
    const StringAreas& a = c_.src_strings;
    if (v >= a.args_lo && v < a.args_hi) return process_string(v, a.args_lo, a.args_hi, true, out);
    if (v >= a.env_lo && v < a.env_hi) return process_string(v, a.env_lo, a.env_hi, false, out);
    if (const LibRange* l = library(v)) {  // a library's static data or function
      if (l->dst_start) return *out = l->dst_start + (v - l->src_start), true;  // same file, same offset
      char sym[128] = "";
      if (l->twin_start && e_.library_symbol) {  // upgraded on disk: by symbol
        if (v == lib_memo_v_ && lib_memo_out_) return *out = lib_memo_out_, true;
        if (uint64_t t = e_.library_symbol(e_.ctx, l, v, sym, sizeof sym))
          return lib_memo_v_ = v, lib_memo_out_ = t, *out = t, true;
      }
      fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
      describe_cur();
      describe_path(out_);
      out_.s(" = ").x(v).s(" points into ").s(l->path);
      if (!l->twin_start) {
        out_.s(", which this version does not map from the same file: policy is to refuse");
      } else {
        if (sym[0]) out_.s(" (symbol ").s(sym).s(")");
        else out_.s(" (no symbol there)");
        out_.s(", which this version's build of the library does not have: policy is to refuse");
      }
      return false;
    }
    if (e_.library_symbol) {  // a library variable copied into the executable (stdout)
      char sym[128] = "";
      if (uint64_t t = e_.library_symbol(e_.ctx, nullptr, v, sym, sizeof sym)) return *out = t, true;
      if (sym[0]) {
        fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
        describe_cur();
        describe_path(out_);
        out_.s(" = ").x(v).s(" points to the library variable ").s(sym)
            .s(" copied into the executable, which this version does not import: policy is to refuse");
        return false;
      }
    }
    fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
    describe_cur();
    describe_path(out_);
    out_.s(" = ").x(v).s(" points outside the program's state (shared library, stack or freed memory): policy is to refuse");
    return false;
  }
  // A pointer into the source's argument or environment strings: the same string of
  // this process (arguments: the same position too), at the same offset.
  bool process_string(uint64_t v, uint64_t lo, uint64_t hi, bool args, uint64_t* out) {
    const char* area = reinterpret_cast<const char*>(src(lo, hi - lo));
    const char* what = args ? "points into the argument \"" : "points into the environment string \"";
    if (!area) {
      violation(what);
      out_.s("\" (not in the copy of the source's memory)");
      return false;
    }
    uint64_t start = v - lo, index = 0;
    while (start > 0 && area[start - 1] != 0) --start;
    for (uint64_t k = 0; k < start; ++k) index += area[k] == 0;
    uint64_t len = 0;
    while (start + len < hi - lo && area[start + len]) ++len;
    const StringAreas& d = c_.dst_strings;
    uint64_t dlo = args ? d.args_lo : d.env_lo, dhi = args ? d.args_hi : d.env_hi;
    const char* mine = reinterpret_cast<const char*>(dlo);
    for (uint64_t pos = 0, j = 0; dlo && pos < dhi - dlo; ++j) {
      uint64_t n = 0;
      while (pos + n < dhi - dlo && mine[pos + n]) ++n;
      bool same = n == len && (!args || j == index);
      for (uint64_t k = 0; same && k < n; ++k) same = mine[pos + k] == area[start + k];
      if (same) return *out = dlo + pos + (v - lo - start), true;
      pos += n + 1;
    }
    violation(what);
    for (uint64_t k = 0; k < len && k < 200; ++k) {
      char c[2] = {area[start + k], 0};
      out_.s(c);
    }
    out_.s("\", which this version's process does not have");
    return false;
  }
  void target_missing(uint64_t v, const Obj& o) {
    fail(TTST_STFW_STATUS_INVARIANT, "invariant: ");
    describe_cur();
    describe_path(out_);
    out_.s(" points to ");
    describe(out_, o, false);
    out_.s("+").u(v - o.addr);
    if (o.flags & kLib) out_.s(", allocated inside a library: not transferred");
    else out_.s(", which does not exist in ").s(c_.backward ? "v1" : "v2");
  }
  bool string_literal(uint64_t v, uint64_t* out) {
    char buf[4096];
    long n = e_.read_source ? e_.read_source(e_.ctx, v, buf, sizeof buf) : -1;
    long len = -1;
    for (long k = 0; k < n; ++k)
      if (buf[k] == 0) {
        len = k;
        break;
      }
    if (len < 0) {
      violation("points to an unreadable string literal");
      return false;
    }
    for (uint32_t r = 0; r < dm().range_count(); ++r) {
      const auto& rg = dm().range(r);
      const char* p = reinterpret_cast<const char*>(rg.start + c_.dst_bias);
      uint64_t size = rg.end - rg.start;
      for (uint64_t k = 0; k + uint64_t(len) < size; ++k) {
        if (p[k] != buf[0]) continue;
        long m = 0;
        while (m <= len && p[k + m] == buf[m]) ++m;
        if (m > len) return *out = rg.start + c_.dst_bias + k, true;
      }
    }
    violation("points to the string literal \"");
    out_.s(buf).s("\", which v2 does not have");
    return false;
  }

  // ---- mapping ---------------------------------------------------------------------------------
  bool map_objects() {
    // Untyped objects: copied as bytes unless a word looks like a pointer into the state.
    for (uint32_t i = nglobals_; i < n_ && !failed(); ++i) {
      Obj& o = objs_[i];
      if (o.flags & kLib) continue;
      if (o.ts != 0 && o.td == 0) {
        fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
        describe(out_, o, false);
        out_.s(" has type ").s(type_name(sm(), sm().strip(o.ts))).s(", which v2 does not have: needs transfer code");
        return false;
      }
      if (o.ts != 0) {
        const PairFacts& f = pair_facts(o.ts, o.td);
        o.dst_size = o.size == f.es ? f.ed : o.size / f.es * f.ed + o.size % f.es;
        continue;
      }
      o.dst_size = o.size;
      const uint8_t* s = src(o.addr, o.size);
      for (uint64_t k = 0; s && k + 8 <= o.size; k += 8) {
        uint64_t w = ld(s + k, 8);
        if (w < 4096) continue;
        int64_t t = find(w);
        const auto* f = sm().function_containing(w - c_.src_bias);
        if (t >= 0 || (f && f->low == w - c_.src_bias)) {
          fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
          describe(out_, o, false);
          out_.s(polymorphic_site(o.site)
                     ? " has no type (reached only through void * or char *; its site serves several types: an "
                       "allocation wrapper) and its word at +"
                     : " has no type (reached only through void * or char *, site without a type) and its word at +")
              .u(k)
              .s(" = ")
              .x(w)
              .s(" looks like a pointer: refusing to guess");
          return false;
        }
      }
      r_.untyped_copied++;
    }
    if (failed()) return false;
    if (!c_.backward) {
      // F's own start-up objects, listed before the transfer adds its objects to the
      // same lists (a walk of those would chase a million more links).
      if (e_.release && !index_startup_objects()) return false;
      // In reverse table order: F's heap lists (newest first) then list the objects in
      // the order P's lists did, so the backward transfer's table (F's walk) has P's
      // order too, and its typing sweep meets lists in the direction they link.
      for (uint32_t i = n_; i-- > nglobals_;) {
        Obj& o = objs_[i];
        if (o.flags & kLib) continue;
        uint64_t site = dst_site(o.site);
        o.dst = e_.alloc(e_.ctx, o.dst_size ? o.dst_size : 1, site, o.dyn_id);
        if (!o.dst) {
          fail(TTST_STFW_STATUS_NO_MEMORY, "no memory: the program's allocator refused ").u(o.dst_size).s(" bytes for ");
          describe(out_, o, false);
          return false;
        }
      }
      return true;
    }
    // Backward: F's object with origin_id X maps onto R's object X. R walks its lists
    // as P did, and F's lists (allocated in reverse table order) hold P's objects in
    // P's order: R's walk usually meets the counterparts in table order. A merge of
    // the two first; R's objects hashed by dyn_id only for what it leaves unmatched.
    if (!merge_counterparts()) return false;
    bool left = false;
    for (uint32_t i = nglobals_; i < n_ && !left; ++i) left = objs_[i].dst == 0 && origin_of(objs_[i]) != 0;
    if (!left) return true;
    uint64_t cap = 1;
    uint32_t bits = 0;
    while (cap < 2 * (n_ - nglobals_) + 16) cap <<= 1, ++bits;
    struct Slot {
      uint64_t id, addr, size;
    };
    Slot* tab = alloc<Slot>(cap);
    if (failed()) return false;
    zero(tab, cap * sizeof(Slot));
    struct Ctx {
      Slot* tab;
      uint64_t cap;
      uint32_t bits;
      bool full;
    } cx{tab, cap, bits, false};
    int64_t w = ttst_heap_walk(
        c_.dst_runtime, &Engine::self_tr, nullptr,
        [](void* c, uint64_t addr, const ttst_heap_desc* d) -> int {
          Ctx* x = static_cast<Ctx*>(c);
          uint64_t h = (d->dyn_id * 0x9e3779b97f4a7c15ull) >> (64 - x->bits);
          for (uint64_t k = 0; k < x->cap; ++k, h = (h + 1) & (x->cap - 1))
            if (x->tab[h].id == 0) {
              x->tab[h] = {d->dyn_id, addr, d->size};
              return 0;
            }
          x->full = true;
          return 1;
        },
        &cx);
    if (w < 0) {
      fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: this process's heap lists are unreadable (walk error ").i(w).s(")");
      return false;
    }
    for (uint32_t i = nglobals_; i < n_; ++i) {
      Obj& o = objs_[i];
      uint64_t origin = o.dst ? 0 : origin_of(o);  // matched by the merge
      if (origin == 0) continue;  // new in v2: no counterpart (pointers to it fail)
      uint64_t h = (origin * 0x9e3779b97f4a7c15ull) >> (64 - bits);
      for (uint64_t k = 0; k < cap; ++k, h = (h + 1) & (cap - 1)) {
        if (tab[h].id == 0) break;
        if (tab[h].id == origin) {
          o.dst = tab[h].addr;
          if (tab[h].size < o.dst_size) o.dst_size = tab[h].size;  // never write past R's object
          break;
        }
      }
    }
    return true;
  }

  // Backward: the origin_id of a source (F) heap object that needs a counterpart in R, else 0.
  uint64_t origin_of(const Obj& o) const {
    if ((o.flags & (kLib | kGlobal)) || o.dyn_id == 0) return 0;
    const ttst_heap_desc* d = reinterpret_cast<const ttst_heap_desc*>(src(o.addr - kDesc, kDesc));
    return d ? d->origin_id : 0;
  }
  // Backward: one walk of R's lists against the table in order; sets dst (and clips
  // dst_size to R's object) for every object whose counterpart comes in order.
  bool merge_counterparts() {
    struct Ctx {
      Engine* e;
      uint32_t pos;
      const ttst_heap_desc* before;
    } cx{this, nglobals_, nullptr};
    int64_t w = ttst_heap_walk(
        c_.dst_runtime, &Engine::self_tr, nullptr,
        [](void* c, uint64_t addr, const ttst_heap_desc* d) -> int {
          Ctx* x = static_cast<Ctx*>(c);
          Engine* e = x->e;
          if (x->before) walk_ahead(d, x->before);
          x->before = d;
          uint64_t origin = 0;
          while (x->pos < e->n_ && (origin = e->origin_of(e->objs_[x->pos])) == 0) x->pos++;
          if (x->pos == e->n_) return 1;  // every object has its counterpart
          if (origin != d->dyn_id) return 0;  // R's object is not next in the table
          Obj& o = e->objs_[x->pos++];
          o.dst = addr;
          if (d->size < o.dst_size) o.dst_size = d->size;  // never write past R's object
          return 0;
        },
        &cx);
    if (w < 0) {
      fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: this process's heap lists are unreadable (walk error ").i(w).s(")");
      return false;
    }
    return true;
  }

  // ---- F's own start-up heap objects ------------------------------------------------------
  // Forward only: a global's pointer the transfer overwrites may hold an object v2's
  // start-up allocated (origin_id 0, the program's own site). Such objects are freed
  // after the transfer unless some global of F still points to them.
  bool index_startup_objects() {
    struct Ctx {
      Engine* e;
    } cx{this};
    su_cap_ = 64;
    su_ = alloc<uint64_t>(su_cap_);
    if (failed()) return false;
    int64_t w = ttst_heap_walk(
        c_.dst_runtime, &Engine::self_tr, nullptr,
        [](void* c, uint64_t addr, const ttst_heap_desc* d) -> int {
          Engine* e = static_cast<Ctx*>(c)->e;
          if (d->origin_id == 0 && !(d->flags & TTST_HEAP_F_FROM_LIB)) e->startup_add(addr);
          return 0;
        },
        &cx);
    if (w < 0) {
      fail(TTST_STFW_STATUS_BAD_INPUT, "bad input: this process's heap lists are unreadable (walk error ").i(w).s(")");
      return false;
    }
    return !failed();
  }
  void startup_add(uint64_t addr) {
    if (su_n_ == su_cap_) {
      uint64_t* bigger = alloc<uint64_t>(su_cap_ * 2);
      if (!bigger) return;
      copy(bigger, su_, su_n_ * 8);
      su_ = bigger, su_cap_ *= 2;
    }
    su_[su_n_++] = addr;  // bit 0 (free) is set when superseded: addresses are 16-aligned
  }
  void supersede(uint64_t old, uint64_t now) {
    if (old == now || old < 4096) return;
    for (uint64_t i = 0; i < su_n_; ++i)
      if ((su_[i] & ~1ull) == old) su_[i] |= 1;
  }
  void free_superseded() {
    if (!e_.release) return;
    for (uint64_t i = 0; i < su_n_; ++i) {
      if (!(su_[i] & 1)) continue;
      uint64_t addr = su_[i] & ~1ull;
      bool referenced = false;
      for (uint32_t g = 0; g < dm().global_count() && !referenced; ++g) {
        const ImageGlobal& x = dm().global_at(g);
        if ((x.tls && !c_.dst_tls) || x.readonly || x.size < 8 || streq(dm().str(x.file), "ttst_runtime.c")) continue;
        const uint8_t* p = reinterpret_cast<const uint8_t*>(x.addr + (x.tls ? c_.dst_tls : c_.dst_bias));
        for (uint64_t k = 0; k + 8 <= x.size && !referenced; k += 8) referenced = ld(p + k, 8) == addr;
      }
      if (!referenced) e_.release(e_.ctx, addr), r_.freed++;
    }
  }

  // ---- words the kernel holds (epoll registrations' data) --------------------------------------
  // Each that points into the state is translated like a pointer; the others (fd
  // numbers, small ids) are kept.
  void translate_kernel_words() {
    depth_ = 0;
    for (uint64_t i = 0; i < c_.kernel_count && !failed(); ++i) {
      uint64_t w = c_.kernel_words[i], out = w;
      cur_ = kKernelWord, kernel_index_ = i;
      if (looks_like_pointer(w) && translate(w, &out)) r_.pointers++;
      c_.kernel_out[i] = out;
    }
  }

  // ---- writing -----------------------------------------------------------------------------------
  void write_objects() {
    for (uint32_t i = nglobals_; i < n_; ++i) set_dst_in_copy(objs_[i].addr, objs_[i].dst);
    for (uint32_t i = 0; i < n_ && !failed(); ++i) {
      prefetch_targets(i + kAhead, false);
      Obj& o = objs_[i];
      if (o.dst == 0 || (o.flags & (kReadonly | kLib))) continue;
      if ((o.flags & kGlobal) && o.dg == 0xffffffffu) continue;
      cur_ = i;
      uint8_t* d = reinterpret_cast<uint8_t*>(o.dst);
      if (!c_.backward) {
        write_one(o, d);
        continue;
      }
      // Backward: the object's image is built in a scratch copy of R's object (its
      // bytes zeroed, then written: a missing write still shows up in the diff), and
      // only the words that differ are stored. R's pages that come back equal stay
      // shared with P: no copy-on-write faults here, and the differ's page-level
      // fast path sees them as equal.
      uint64_t span = o.dst_size;
      if (!(o.flags & kGlobal) && o.ts != 0) {
        const PairFacts& f = pair_facts(o.ts, o.td);
        uint64_t whole = o.size == f.es ? f.ed : f.es ? o.size / f.es * f.ed : 0;
        if (whole > span) span = whole;
      }
      uint8_t* image = backward_buffer(span);
      if (!image) return;
      copy(image, d, o.dst_size);
      write_one(o, image);
      if (!failed()) store_changed(d, image, o.dst_size);
    }
  }
  // One object written into `d` (backward: a scratch image, zeroed where written).
  void write_one(Obj& o, uint8_t* d) {
    if (Rule rule = Rule((o.flags & kRuleMask) >> kRuleShift)) {
      depth_ = 0;
      const uint8_t* s = src(o.addr, o.size);
      if (c_.backward) mode_ = kZero, by_rule(rule, s, o.size, d, o.dst_size);
      mode_ = kWrite, by_rule(rule, s, o.size, d, o.dst_size);
      if (rule != kRuleSkip) r_.objects++;
      return;
    }
    if (!(o.flags & kGlobal) && o.ts == 0) {  // untyped policy: bytes
      copy(d, src(o.addr, o.size), o.dst_size);
      r_.bytes += o.dst_size;
      r_.objects++;
      return;
    }
    if (c_.backward) {
      mode_ = kZero;
      each_element(o, d);
    }
    mode_ = kWrite;
    each_element(o, d);
    r_.objects++;
  }
  uint8_t* backward_buffer(uint64_t n) {
    if (n > bwd_cap_) {
      uint64_t cap = n < 4096 ? 4096 : n;
      bwd_buf_ = alloc<uint8_t>(cap);
      bwd_cap_ = bwd_buf_ ? cap : 0;
    }
    return bwd_buf_;
  }
  // Stores the 8-byte words (then bytes) of `image` that differ from `d`.
  static void store_changed(uint8_t* d, const uint8_t* image, uint64_t n) {
    uint64_t k = 0;
    for (; k + 8 <= n; k += 8) {
      uint64_t a, b;
      __builtin_memcpy(&a, d + k, 8);
      __builtin_memcpy(&b, image + k, 8);
      if (a != b) __builtin_memcpy(d + k, &b, 8);
    }
    for (; k < n; ++k)
      if (d[k] != image[k]) d[k] = image[k];
  }

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

}  // namespace

Result transfer(const Config& cfg, const Env& env) {
  Engine* e = static_cast<Engine*>(env.scratch(env.ctx, sizeof(Engine)));
  if (!e) {
    Result r;
    r.status = TTST_STFW_STATUS_NO_MEMORY;
    return r;
  }
  new (static_cast<void*>(e), EngineTag{}) Engine(cfg, env);
  return e->run();
}

}  // namespace ttst::stfw
