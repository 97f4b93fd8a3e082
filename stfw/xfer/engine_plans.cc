// engine_plans.cc — compiled element plans: the walk of a type pair flattened into byte
// copies and pointer slots, applied per element.
// Part of the engine (engine_impl.h); UNTRUSTED, freestanding.
#include "stfw/xfer/engine_impl.h"

namespace ttst::stfw::engine_detail {

bool Engine::compile(uint32_t ts, uint32_t td, uint32_t soff, uint32_t doff, Ops& out, int depth) {
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

const Engine::Ops* Engine::compiled(uint32_t ts, uint32_t td) {
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

bool Engine::apply(const Ops& ops, const uint8_t* s, uint8_t* d) {
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

}  // namespace ttst::stfw::engine_detail
