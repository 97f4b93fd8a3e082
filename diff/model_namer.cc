// model_namer.cc — names and renders values from a StateModel (see state_model.h).
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "diff/state_model.h"
#include "inject/sys/hex.h"

namespace ttst::diff {

ModelNamer::ModelNamer(StateModel m) : m_(std::move(m)) {
  if (m_.types.empty()) m_.types.emplace_back();
  std::sort(m_.globals.begin(), m_.globals.end(),
            [](const GlobalDesc& a, const GlobalDesc& b) { return a.addr < b.addr; });
  std::sort(m_.heap.begin(), m_.heap.end(),
            [](const HeapObject& a, const HeapObject& b) { return a.addr < b.addr; });
}

Named ModelNamer::descend(uint32_t t, uint64_t base, uint64_t off, std::string path) const {
  auto type = [&](uint32_t i) -> const TypeDesc& { return m_.types[i < m_.types.size() ? i : 0]; };
  for (int depth = 0; depth < 64; depth++) {
    const TypeDesc& T = type(t);
    if (T.kind == TypeDesc::Array && T.count > 0) {
      const TypeDesc& E = type(T.elem);
      if (E.kind == TypeDesc::Base && E.enc == TypeDesc::Char && T.size <= 256)
        return {path, base, T.size, t};  // a short string: shown whole
      if (E.size == 0) break;
      const uint64_t i = off / E.size;
      path += "[" + std::to_string(i) + "]";
      base += i * E.size;
      off -= i * E.size;
      t = T.elem;
      continue;
    }
    if (T.kind == TypeDesc::Struct || T.kind == TypeDesc::Union) {
      const MemberDesc* hit = nullptr;
      for (const MemberDesc& m : T.members)
        if (m.offset <= off && off < m.offset + type(m.type).size) {
          hit = &m;  // a union names its first member holding the byte
          break;
        }
      if (!hit) return {path + " (padding +" + std::to_string(off) + ")", base + off, 1, 0};
      if (!hit->name.empty()) path += "." + hit->name;
      base += hit->offset;
      off -= hit->offset;
      t = hit->type;
      continue;
    }
    if (T.kind != TypeDesc::Unknown && T.size > 0) return {path, base, T.size, t};
    break;
  }
  return {path + " +" + std::to_string(off), base + off, 1, 0};  // untyped byte
}

std::optional<Named> ModelNamer::name(uint64_t addr) const {
  auto size_of = [&](uint32_t t) { return t < m_.types.size() ? m_.types[t].size : 0; };
  auto g = std::upper_bound(m_.globals.begin(), m_.globals.end(), addr,
                            [](uint64_t a, const GlobalDesc& x) { return a < x.addr; });
  if (g != m_.globals.begin() && addr < std::prev(g)->addr + size_of(std::prev(g)->type)) {
    const GlobalDesc& x = *std::prev(g);
    return descend(x.type, x.addr, addr - x.addr, x.id);
  }
  auto h = std::upper_bound(m_.heap.begin(), m_.heap.end(), addr,
                            [](uint64_t a, const HeapObject& x) { return a < x.addr; });
  if (h == m_.heap.begin() || addr >= std::prev(h)->addr + std::prev(h)->size) return std::nullopt;
  const HeapObject& o = *std::prev(h);
  const auto site = m_.sites.find(o.site);
  const std::string prefix =
      "heap object " + (site != m_.sites.end() ? site->second.id : sys::hex(o.site)) + " #" + std::to_string(o.dyn_id);
  const uint32_t t = site != m_.sites.end() ? site->second.type : 0;
  const uint64_t esize = size_of(t), off = addr - o.addr;
  Named n;
  if (esize == 0) {
    n = {"", addr, 1, 0};  // element type unknown: the byte itself
  } else {
    const uint64_t i = off / esize;  // an object larger than its type is an array of it
    n = descend(t, o.addr + i * esize, off - i * esize, o.size > esize ? "[" + std::to_string(i) + "]" : "");
  }
  std::string inner = n.path.rfind('.', 0) == 0 ? n.path.substr(1) : n.path;
  n.path = prefix + " +" + std::to_string(n.start - o.addr) + (inner.empty() ? "" : " → " + inner);
  return n;
}

std::string ModelNamer::render(const Named& n, const uint8_t* b) const {
  const TypeDesc& T = m_.types[n.type < m_.types.size() ? n.type : 0];
  char s[96];
  auto uint = [&]() {
    uint64_t v = 0;
    memcpy(&v, b, std::min<uint64_t>(n.size, 8));
    return v;
  };
  auto sint = [&]() {
    const uint64_t v = uint();
    const unsigned bits = static_cast<unsigned>(std::min<uint64_t>(n.size, 8) * 8);
    return bits == 64 ? static_cast<int64_t>(v) : static_cast<int64_t>(v << (64 - bits)) >> (64 - bits);
  };
  if (T.kind == TypeDesc::Array) {  // a short char array, as a string
    std::string out = "\"";
    for (uint64_t i = 0; i < n.size && b[i]; i++) {
      if (b[i] >= 32 && b[i] < 127 && b[i] != '"' && b[i] != '\\') {
        out += static_cast<char>(b[i]);
      } else {
        snprintf(s, sizeof s, "\\x%02x", b[i]);
        out += s;
      }
    }
    return out + "\"";
  }
  if (T.kind == TypeDesc::Pointer && n.size == 8) {
    if (!uint()) return "NULL";
    return sys::hex(uint());
  }
  if (T.kind == TypeDesc::Enum) {
    const int64_t v = T.enc == TypeDesc::Signed ? sint() : static_cast<int64_t>(uint());
    for (const auto& [value, name] : T.enumerators)
      if (value == v) return name + " (" + std::to_string(v) + ")";
    return std::to_string(v);
  }
  if (T.kind == TypeDesc::Base && n.size <= 8) {
    switch (T.enc) {
      case TypeDesc::Signed: return std::to_string(sint());
      case TypeDesc::Unsigned: return std::to_string(uint());
      case TypeDesc::Bool: return uint() ? "true" : "false";
      case TypeDesc::Char:
        if (uint() >= 32 && uint() < 127) snprintf(s, sizeof s, "'%c' (%" PRIu64 ")", static_cast<char>(uint()), uint());
        else snprintf(s, sizeof s, "%" PRId64, sint());
        return s;
      case TypeDesc::Float:
        if (n.size == 4) {
          float f;
          memcpy(&f, b, 4);
          snprintf(s, sizeof s, "%.9g", static_cast<double>(f));
          return s;
        }
        if (n.size == 8) {
          double d;
          memcpy(&d, b, 8);
          snprintf(s, sizeof s, "%.17g", d);
          return s;
        }
        break;
    }
  }
  std::string out = "0x";  // anything else: its bytes, in memory order
  for (uint64_t i = 0; i < n.size && i < 32; i++) {
    snprintf(s, sizeof s, "%02x", b[i]);
    out += s;
  }
  return n.size > 32 ? out + "…" : out;
}

}  // namespace ttst::diff
