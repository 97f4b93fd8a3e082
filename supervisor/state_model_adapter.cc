// state_model_adapter.cc — see state_model_adapter.h.
#include "supervisor/state_model_adapter.h"

#include <cstdio>
#include <unordered_map>

#include "diff/heap_walk.h"
#include "diff/naming.h"
#include "diff/proc_files.h"

namespace ttst::supervisor {
namespace {

class TypeMapper {
 public:
  TypeMapper(const dwarfmeta::Program& p, diff::StateModel& m) : p_(p), m_(m) {}

  uint32_t map(dwarfmeta::TypeId id) {
    if (auto it = done_.find(id); it != done_.end()) return it->second;
    dwarfmeta::TypeId s = p_.strip(id);
    if (auto it = done_.find(s); it != done_.end()) return done_[id] = it->second;
    const dwarfmeta::Type& t = p_.type(s);
    uint32_t idx = static_cast<uint32_t>(m_.types.size());
    m_.types.emplace_back();
    done_[id] = done_[s] = idx;
    diff::TypeDesc d;
    d.name = p_.type_name(id);
    d.size = t.size;
    using K = dwarfmeta::TypeKind;
    switch (t.kind) {
      case K::Base:
        d.kind = diff::TypeDesc::Base;
        d.enc = encoding(t.encoding);
        break;
      case K::Enum:
        d.kind = diff::TypeDesc::Enum;
        d.enc = diff::TypeDesc::Signed;
        for (const auto& e : t.enumerators) d.enumerators.emplace_back(e.value, e.name);
        break;
      case K::Pointer:
        d.kind = diff::TypeDesc::Pointer;
        d.size = 8;
        break;
      case K::Struct:
      case K::Union:
        d.kind = t.kind == K::Struct ? diff::TypeDesc::Struct : diff::TypeDesc::Union;
        for (const auto& mem : t.members) d.members.push_back({mem.name, mem.offset, map(mem.type)});
        break;
      case K::Array:
        d.kind = diff::TypeDesc::Array;
        d.elem = map(t.target);
        d.count = t.count == dwarfmeta::kFlexible ? 0 : t.count;
        break;
      default:
        d.kind = diff::TypeDesc::Unknown;
    }
    m_.types[idx] = std::move(d);
    return idx;
  }

 private:
  static diff::TypeDesc::Encoding encoding(dwarfmeta::Encoding e) {
    using E = dwarfmeta::Encoding;
    switch (e) {
      case E::Signed: return diff::TypeDesc::Signed;
      case E::SignedChar:
      case E::UnsignedChar: return diff::TypeDesc::Char;
      case E::Bool: return diff::TypeDesc::Bool;
      case E::Float: return diff::TypeDesc::Float;
      default: return diff::TypeDesc::Unsigned;
    }
  }
  const dwarfmeta::Program& p_;
  diff::StateModel& m_;
  std::unordered_map<dwarfmeta::TypeId, uint32_t> done_;
};

}  // namespace

diff::StateModel state_model(const dwarfmeta::Program& prog, inject::LoadBias load_bias) {
  const uint64_t bias = load_bias.value();  // diff's model is in plain run-time addresses
  diff::StateModel m;
  TypeMapper tm(prog, m);
  for (const auto& g : prog.globals) {
    if (g.tls || g.readonly) continue;
    m.globals.push_back({g.id, g.addr + bias, tm.map(g.type)});
  }
  for (const auto& s : prog.alloc_sites)
    m.sites[s.return_addr + bias] = {s.id, s.type == dwarfmeta::kVoid ? 0u : tm.map(s.type)};
  return m;
}

std::vector<Difference> name_for_report(const diff::Result& res, const dwarfmeta::Program& prog, inject::LoadBias bias,
                                        inject::RemoteAddr runtime_block, pid_t p, pid_t r, size_t cap,
                                        uint64_t& total) {
  std::vector<Difference> out;
  total = 0;
  diff::Memory pm(p), rm(r);
  diff::StateModel model = state_model(prog, bias);
  std::string err;
  diff::read_heap_objects(pm, runtime_block.value(), model.heap, err);  // unnamed heap on failure
  diff::ModelNamer namer(std::move(model));
  for (const auto& m : res.mappings) {
    ++total;
    if (out.size() < cap) out.push_back({"mapping " + m.describe(), m.p.start, "", ""});
  }
  for (const auto& nd : diff::name_differences(res, namer, pm, rm)) {
    if (nd.values.empty()) {
      ++total;
      char where[64];
      std::snprintf(where, sizeof where, "unnamed bytes at 0x%llx (+%llu)",
                    static_cast<unsigned long long>(nd.diff->addr), static_cast<unsigned long long>(nd.diff->len));
      if (out.size() < cap) out.push_back({where, nd.diff->addr, "", ""});
      continue;
    }
    total += nd.values.size() + nd.more_values;
    for (const auto& v : nd.values)
      if (out.size() < cap) out.push_back({v.name.path, v.name.start, v.p, v.r});
  }
  total += res.more_byte_diffs;
  return out;
}

}  // namespace ttst::supervisor
