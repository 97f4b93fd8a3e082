// engine_types.cc — type facts: sizes, whether a type holds pointers, identical flat layouts,
// destination counterparts by name, errors and the source memory lookup.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

Out& Engine::fail(int status, const char* what) {
  if (r_.status == 0) {
    r_.status = status;
    out_.used = 0;
    return out_.s(what);
  }
  static char sink[1];
  static Out dummy{sink, 0};
  return dummy;
}

Result Engine::finish() {
  if (r_.status != 0) out_.end();
  r_.out_used = out_.used;
  return r_;
}

const uint8_t* Engine::src(uint64_t addr, uint64_t len) const {
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

uint64_t Engine::tsize(const View& v, uint32_t t) const {
  const ImageType& ty = v.type(v.strip(t));
  if (ty.kind == kArray) return ty.count == dwarfmeta::image::kFlexibleCount ? 0 : ty.count * tsize(v, ty.target);
  return ty.size;
}

// Does the source type hold a pointer the transfer must translate?
// (Unions holding pointers and intptr_t/uintptr_t values count: both may need
// an annotation, so their bytes are never copied blindly.)
bool Engine::has_pointer(uint32_t t0) {
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
bool Engine::is_intptr(const View& v, uint32_t t) {
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

bool Engine::annotated(uint32_t ts, uint32_t td) const {
  return ann_.type_annotated(src_newer(), ts) || ann_.type_annotated(!src_newer(), td);
}

Rule Engine::member_rule(uint32_t ts, uint32_t si, uint32_t td, uint32_t di) const {
  Rule r = ann_.member_rule(src_newer(), ts, si);
  return r != kRuleDefault ? r : ann_.member_rule(!src_newer(), td, di);
}

// Identical layout and no pointer: the bytes are copied as they are.
bool Engine::same_flat(uint32_t ts, uint32_t td, int depth) {
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
uint32_t Engine::counterpart(uint32_t t, int depth) {
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

const char* Engine::type_name(const View& v, uint32_t t) const {
  const ImageType& ty = v.type(t);
  if (ty.name != dwarfmeta::image::kNone) return v.str(ty.name);
  if (ty.kind == kPointer) return "pointer";
  if (ty.kind == kArray) return "array";
  return "anonymous type";
}

}  // namespace ttst::stfw::engine_detail
