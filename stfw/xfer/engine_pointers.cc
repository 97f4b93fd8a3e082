// engine_pointers.cc — pointer translation: objects (base, interior, one past the end),
// functions, string literals, argument/environment strings, shared libraries.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

void Engine::pointer(const ImageType& a, const ImageType& b, const uint8_t* s, uint8_t* d) {
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
bool Engine::map_offset(uint32_t ts, uint32_t td, uint64_t off, uint64_t* out, int depth) {
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

bool Engine::translate(uint64_t v, uint64_t* out) {
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
bool Engine::process_string(uint64_t v, uint64_t lo, uint64_t hi, bool args, uint64_t* out) {
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

void Engine::target_missing(uint64_t v, const Obj& o) {
  fail(TTST_STFW_STATUS_INVARIANT, "invariant: ");
  describe_cur();
  describe_path(out_);
  out_.s(" points to ");
  describe(out_, o, false);
  out_.s("+").u(v - o.addr);
  if (o.flags & kLib) out_.s(", allocated inside a library: not transferred");
  else out_.s(", which does not exist in ").s(c_.backward ? "v1" : "v2");
}

bool Engine::string_literal(uint64_t v, uint64_t* out) {
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

}  // namespace ttst::stfw::engine_detail
