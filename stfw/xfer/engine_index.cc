// engine_index.cc — the object table: the source's globals paired by state ID (renames,
// annotations), its heap objects from its descriptors, lookups by address.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

bool Engine::index() {
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

int Engine::visit(void* ctx, uint64_t addr, const ttst_heap_desc* d) {
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
void Engine::walk_ahead(const ttst_heap_desc* d, const ttst_heap_desc* before) {
  int64_t stride = reinterpret_cast<const char*>(d) - reinterpret_cast<const char*>(before);
  if (stride > -4096 && stride < 4096) __builtin_prefetch(reinterpret_cast<const char*>(d) + 16 * stride);
}

// The object holding source address v (one past its end counts), or -1.
// The copy's descriptor of the heap object whose base address is v, or NULL.
// After indexing, its `prev` holds the object's index, `next` (after mapping) the
// destination address, `offset` the source type + 1 once typed: the hot paths
// read one cache line of the copy instead of the object table.
ttst_heap_desc* Engine::base_desc(uint64_t v) const {
  if (v & 7) return nullptr;  // not a block's base (16-byte aligned); its descriptor would be read misaligned
  const uint8_t* p = v > kDesc ? src(v - kDesc, kDesc) : nullptr;
  if (!p) return nullptr;
  ttst_heap_desc* d = reinterpret_cast<ttst_heap_desc*>(const_cast<uint8_t*>(p));
  uint64_t tag = reinterpret_cast<uint64_t>(d->prev);
  if (d->magic == TTST_HEAP_LIVE && (tag & ~0xffffffffull) == kIndexTag && (tag & 0xffffffffu) < n_) return d;
  return nullptr;
}

void Engine::set_dst_in_copy(uint64_t addr, uint64_t dst) {
  if (ttst_heap_desc* d = base_desc(addr)) d->next = reinterpret_cast<ttst_heap_desc*>(dst);
}

int64_t Engine::find(uint64_t v) const {
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

void Engine::describe_cur() {
  if (cur_ == kKernelWord) out_.s("the data of epoll registration #").u(kernel_index_);
  else describe(out_, objs_[cur_], false);
}

void Engine::describe(Out& o, const Obj& x, bool dst) {
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

void Engine::describe_path(Out& o) {
  for (uint32_t i = 0; i < depth_; ++i) {
    if (path_[i].name) o.s(".").s(path_[i].name);
    else o.s("[").u(path_[i].index).s("]");
  }
}

}  // namespace ttst::stfw::engine_detail
