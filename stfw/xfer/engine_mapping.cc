// engine_mapping.cc — where each source object goes: allocated in F (forward) or found in R
// by origin ID (backward); the untyped-object policy.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

bool Engine::map_objects() {
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
uint64_t Engine::origin_of(const Obj& o) const {
  if ((o.flags & (kLib | kGlobal)) || o.dyn_id == 0) return 0;
  const ttst_heap_desc* d = reinterpret_cast<const ttst_heap_desc*>(src(o.addr - kDesc, kDesc));
  return d ? d->origin_id : 0;
}

// Backward: one walk of R's lists against the table in order; sets dst (and clips
// dst_size to R's object) for every object whose counterpart comes in order.
bool Engine::merge_counterparts() {
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

}  // namespace ttst::stfw::engine_detail
