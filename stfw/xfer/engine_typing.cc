// engine_typing.cc — heap objects typed without instrumentation: typed pointers from the
// globals, then per-site types (never from allocation wrappers), prefetching.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

bool Engine::type_objects() {
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

const Obj* Engine::learnt_site(uint64_t site) {
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

bool Engine::polymorphic_site(uint64_t site) {
  const auto* s = sm().alloc_site(site - c_.src_bias);
  return (s && wrapper_site(*s)) || learnt_site(site) == &polymorphic_;
}

// A site inside an allocation wrapper: a function returning void * (xmalloc), or
// one the user annotated TTST_ALLOCATOR. Its objects are of whatever type each
// caller wanted, so neither its typed objects nor dwarfmeta's hint type the rest.
bool Engine::wrapper_site(const dwarfmeta::image::ImageAllocSite& s) const {
  const char* caller = sm().str(s.caller);
  for (uint32_t i = 0; i < sm().annotation_count(); ++i)
    if (sm().annotation(i).kind == 5 && streq(sm().str(sm().annotation(i).target), caller)) return true;
  const auto* f = sm().function(caller);
  if (!f) return false;
  const ImageType& rt = sm().type(sm().strip(f->return_type));
  return rt.kind == kPointer && sm().strip(rt.target) == 0;
}

void Engine::push(uint32_t i) {
  if (objs_[i].flags & kQueued) return;
  objs_[i].flags |= kQueued;
  if (i >= sweep_pos_) return;  // the sweep will reach it
  queue_[qn_++] = i;
}

void Engine::drain() {
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
void Engine::each_element(const Obj& o, uint8_t* d) {
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

const Engine::PairFacts& Engine::pair_facts(uint32_t ts, uint32_t td) {
  if (pf_valid_ && pf_.ts == ts && pf_.td == td) return pf_;
  pf_.ts = ts, pf_.td = td;
  pf_.es = tsize(sm(), ts), pf_.ed = tsize(dm(), td);
  pf_.ptr = has_pointer(ts);
  pf_.flat = same_flat(ts, td);
  pf_.ops = pf_.es ? compiled(ts, td) : nullptr;
  pf_valid_ = !failed();
  return pf_;
}

void Engine::prefetch_ops(const Ops& ops, const uint8_t* s, bool deep) {
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

void Engine::prefetch_targets(uint32_t i, bool deep) {
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

void Engine::learn_site_ops(const Obj& o) {
  if (o.ts == 0 || (o.flags & (kGlobal | kLib))) return;
  const PairFacts& f = pair_facts(o.ts, o.td);
  SiteOps& c = site_ops_[(o.site >> 4) & 255];
  c.site = o.site, c.size = f.es, c.ops = f.ops;
}

}  // namespace ttst::stfw::engine_detail
