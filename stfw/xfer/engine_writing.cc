// engine_writing.cc — writing every object (backward: into a scratch image, storing only
// what differs), F's superseded start-up objects, kernel-held words.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

bool Engine::index_startup_objects() {
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

void Engine::startup_add(uint64_t addr) {
  if (su_n_ == su_cap_) {
    uint64_t* bigger = alloc<uint64_t>(su_cap_ * 2);
    if (!bigger) return;
    copy(bigger, su_, su_n_ * 8);
    su_ = bigger, su_cap_ *= 2;
  }
  su_[su_n_++] = addr;  // bit 0 (free) is set when superseded: addresses are 16-aligned
}

void Engine::supersede(uint64_t old, uint64_t now) {
  if (old == now || old < 4096) return;
  for (uint64_t i = 0; i < su_n_; ++i)
    if ((su_[i] & ~1ull) == old) su_[i] |= 1;
}

void Engine::free_superseded() {
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

void Engine::translate_kernel_words() {
  depth_ = 0;
  for (uint64_t i = 0; i < c_.kernel_count && !failed(); ++i) {
    uint64_t w = c_.kernel_words[i], out = w;
    cur_ = kKernelWord, kernel_index_ = i;
    if (looks_like_pointer(w) && translate(w, &out)) r_.pointers++;
    c_.kernel_out[i] = out;
  }
}

void Engine::write_objects() {
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
void Engine::write_one(Obj& o, uint8_t* d) {
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

uint8_t* Engine::backward_buffer(uint64_t n) {
  if (n > bwd_cap_) {
    uint64_t cap = n < 4096 ? 4096 : n;
    bwd_buf_ = alloc<uint8_t>(cap);
    bwd_cap_ = bwd_buf_ ? cap : 0;
  }
  return bwd_buf_;
}

// Stores the 8-byte words (then bytes) of `image` that differ from `d`.
void Engine::store_changed(uint8_t* d, const uint8_t* image, uint64_t n) {
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

}  // namespace ttst::stfw::engine_detail
