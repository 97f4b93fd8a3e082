// engine_transform.cc — the walk (Figure 4): members by name, arrays, scalars widened or
// narrowed, enums by name, bitfields, unions, annotated members.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

void Engine::violation(const char* what) {
  fail(TTST_STFW_STATUS_INVARIANT, "invariant: ");
  describe_cur();
  describe_path(out_);
  out_.s(" ").s(what);
}

void Engine::walk(uint32_t ts, uint32_t td, const uint8_t* s, uint8_t* d) {
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
const uint32_t* Engine::member_plan(uint32_t ts, uint32_t td, const ImageType& a, const ImageType& b) {
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
uint64_t Engine::dst_site(uint64_t src_site) {
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
void Engine::by_rule(Rule rule, const uint8_t* s, uint64_t ss, uint8_t* d, uint64_t ds) {
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
bool Engine::looks_like_pointer(uint64_t v) {
  if (v < 4096 || v >= 0xfffffffffffff000ull) return false;
  if (find(v) >= 0) return true;
  const auto* f = sm().function_containing(v - c_.src_bias);
  return (f && f->low == v - c_.src_bias) || sm().in_string_ranges(v - c_.src_bias) || library(v);
}

const LibRange* Engine::library(uint64_t v) const {
  for (uint64_t k = 0; k < c_.lib_count; ++k)
    if (v >= c_.libs[k].src_start && v < c_.libs[k].src_end) return &c_.libs[k];
  return nullptr;
}

void Engine::mismatch(uint32_t ts, uint32_t td) {
  fail(TTST_STFW_STATUS_AMBIGUOUS, "ambiguous: ");
  describe_cur();
  describe_path(out_);
  out_.s(" changed from ").s(type_name(sm(), ts)).s(" to ").s(type_name(dm(), td)).s(": needs transfer code");
}

void Engine::bitfield(const ImageMember& ms, const ImageMember& md, const uint8_t* s, uint8_t* d) {
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

bool Engine::fits(int64_t v, bool vsigned, uint64_t bits, bool dsigned) {
  if (!vsigned && v < 0) {  // an unsigned value above INT64_MAX
    return !dsigned && bits >= 64;
  }
  if (dsigned) return bits >= 64 || (v >= -(int64_t(1) << (bits - 1)) && v < (int64_t(1) << (bits - 1)));
  return v >= 0 && (bits >= 64 || uint64_t(v) < (uint64_t(1) << bits));
}

void Engine::scalar(uint32_t ts, uint32_t td, const uint8_t* s, uint8_t* d) {
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

}  // namespace ttst::stfw::engine_detail
