// site_hints.cc — see site_hints.h.
#include "dwarfmeta/site_hints.h"

#include "dwarfmeta/alloc_sites.h"  // pointee_in
#include "dwarfmeta/dwarf_attrs.h"  // read_uleb

#include <libdwarf/dwarf.h>

#include <algorithm>
#include <map>
#include <set>

namespace ttst::dwarfmeta {
namespace {

// DW_AT_ranges as DWARF 5 range list entries (cooked: absolute addresses).
void read_rnglists(Dwarf_Attribute attr, Dwarf_Half form, Dwarf_Unsigned value, PcRanges& out) {
  Dwarf_Error err = nullptr;
  Dwarf_Rnglists_Head head = nullptr;
  Dwarf_Unsigned count = 0, global_off = 0;
  if (dwarf_rnglists_get_rle_head(attr, form, value, &head, &count, &global_off, &err) != DW_DLV_OK) return;
  for (Dwarf_Unsigned i = 0; i < count; ++i) {
    unsigned len = 0, code = 0;
    Dwarf_Unsigned raw1 = 0, raw2 = 0, low = 0, high = 0;
    Dwarf_Bool unavailable = false;
    if (dwarf_get_rnglists_entry_fields_a(head, i, &len, &code, &raw1, &raw2, &unavailable, &low, &high, &err) !=
        DW_DLV_OK)
      break;
    if (unavailable || code == DW_RLE_end_of_list || code == DW_RLE_base_address || code == DW_RLE_base_addressx)
      continue;
    if (low < high) out.emplace_back(low, high);
  }
  dwarf_dealloc_rnglists_head(head);
}

// DW_AT_ranges as DWARF 4 .debug_ranges entries, relative to the CU's base address.
void read_ranges(Dwarf_Debug dbg, Dwarf_Die die, Dwarf_Off offset, uint64_t base, PcRanges& out) {
  Dwarf_Error err = nullptr;
  Dwarf_Ranges* buf = nullptr;
  Dwarf_Signed n = 0;
  Dwarf_Unsigned bytes = 0;
  Dwarf_Off real = 0;
  if (dwarf_get_ranges_b(dbg, offset, die, &real, &buf, &n, &bytes, &err) != DW_DLV_OK) return;
  for (Dwarf_Signed i = 0; i < n; ++i) {
    if (buf[i].dwr_type == DW_RANGES_END) break;
    if (buf[i].dwr_type == DW_RANGES_ADDRESS_SELECTION) {
      base = buf[i].dwr_addr2;
      continue;
    }
    if (buf[i].dwr_addr1 < buf[i].dwr_addr2) out.emplace_back(base + buf[i].dwr_addr1, base + buf[i].dwr_addr2);
  }
  dwarf_ranges_dealloc(dbg, buf, n);
}

bool covers(const PcRanges& r, uint64_t pc) {
  for (const auto& [low, high] : r)
    if (pc >= low && pc < high) return true;
  return false;
}

// The struct or union a `T *` points to (T kept as declared), else void.
TypeId struct_pointee(const Program& p, TypeId t) {
  const Type& ty = p.type(p.strip(t));
  if (ty.kind != TypeKind::Pointer) return kVoid;
  const Type& target = p.type(p.strip(ty.target));
  if ((target.kind != TypeKind::Struct && target.kind != TypeKind::Union) || target.size == 0) return kVoid;
  return ty.target;
}

// A `void *` or `char *` (signed, unsigned): a pointer to bytes, which may hold anything.
bool bytes_pointer(const Program& p, TypeId t) {
  const Type& ty = p.type(p.strip(t));
  if (ty.kind != TypeKind::Pointer) return false;
  const Type& target = p.type(p.strip(ty.target));
  return target.kind == TypeKind::Void || (target.kind == TypeKind::Base && target.size == 1);
}

// Scopes and variables grouped by function: each function's scope, its range of
// scope indices, and for each scope its variables.
class ScopeIndex {
 public:
  explicit ScopeIndex(const HintScopes& h) : h_(h), vars_of_(h.scopes.size()), depth_(h.scopes.size(), 0) {
    for (uint32_t i = 0; i < h.variables.size(); ++i)
      if (h.variables[i].scope < h.scopes.size()) vars_of_[h.variables[i].scope].push_back(i);
    for (uint32_t s = 0; s < h.scopes.size(); ++s) {
      const HintScope& scope = h.scopes[s];
      if (scope.parent == kNoScope) {
        roots_.push_back(s);
        for (const auto& [low, high] : scope.ranges) root_ranges_.push_back({low, high, s});
      } else if (scope.parent < s) {
        depth_[s] = depth_[scope.parent] + 1;
      }
    }
    std::sort(root_ranges_.begin(), root_ranges_.end(),
              [](const RootRange& a, const RootRange& b) { return a.low < b.low; });
  }

  // The innermost scope covering pc, or kNoScope.
  uint32_t innermost(uint64_t pc) const {
    auto it = std::upper_bound(root_ranges_.begin(), root_ranges_.end(), pc,
                               [](uint64_t v, const RootRange& r) { return v < r.low; });
    if (it == root_ranges_.begin() || pc >= std::prev(it)->high) return kNoScope;
    uint32_t root = std::prev(it)->root;
    auto next = std::upper_bound(roots_.begin(), roots_.end(), root);
    uint32_t end = next == roots_.end() ? uint32_t(h_.scopes.size()) : *next;
    uint32_t best = root;
    for (uint32_t s = root + 1; s < end; ++s)
      if (depth_[s] > depth_[best] && covers(h_.scopes[s].ranges, pc)) best = s;
    return best;
  }

  const std::vector<uint32_t>& variables(uint32_t scope) const { return vars_of_[scope]; }

  // The scopes of the function whose scope tree holds `scope`: [first, end).
  std::pair<uint32_t, uint32_t> function_of(uint32_t scope) const {
    while (h_.scopes[scope].parent != kNoScope) scope = h_.scopes[scope].parent;
    auto next = std::upper_bound(roots_.begin(), roots_.end(), scope);
    return {scope, next == roots_.end() ? uint32_t(h_.scopes.size()) : *next};
  }

 private:
  struct RootRange {
    uint64_t low, high;
    uint32_t root;
  };
  const HintScopes& h_;
  std::vector<std::vector<uint32_t>> vars_of_;
  std::vector<uint32_t> depth_, roots_;
  std::vector<RootRange> root_ranges_;
};

// The bytes a standard allocator's call allocates, from its constant arguments; 0: unknown.
uint64_t allocation_size(const std::string& allocator, const HintCall* call) {
  if (!call) return 0;
  if (allocator == "malloc" && (call->known & 1)) return call->rdi;
  if (allocator == "calloc" && call->known == 3) return call->rdi * call->rsi;
  if ((allocator == "realloc" || allocator == "aligned_alloc") && (call->known & 2)) return call->rsi;
  return 0;
}

// Is `v` at `pc` in a register or stack slot that holds the result there?
bool holds(const HintVariable& v, const FlowPoint& at) {
  for (const HintPlace& p : v.places) {
    if (at.pc < p.low || at.pc >= p.high) continue;
    if (p.kind == PlaceKind::kRegister && p.reg < 16 && ((at.regs >> p.reg) & 1)) return true;
    if (p.kind == PlaceKind::kCfaOffset &&
        std::find(at.cfa_slots.begin(), at.cfa_slots.end(), p.offset) != at.cfa_slots.end())
      return true;
    if (p.kind == PlaceKind::kRegisterOffset && p.reg == 7 &&
        std::find(at.rsp_slots.begin(), at.rsp_slots.end(), p.offset) != at.rsp_slots.end())
      return true;
  }
  return false;
}

// Is `v` at `pc` in register `reg`?
bool in_register(const HintVariable& v, uint64_t pc, uint8_t reg) {
  for (const HintPlace& p : v.places)
    if (pc >= p.low && pc < p.high && p.kind == PlaceKind::kRegister && p.reg == reg) return true;
  return false;
}

// The structs and unions the site's result is proven to be (site_receiver.h): the
// pointees of the variables that hold it, of the members and globals it is stored
// into, each a whole fraction of the allocation's size when known; deduplicated.
std::vector<TypeId> proven_types(const HintScopes& h, const ScopeIndex& index, const Program& prog,
                                 const AllocSite& site, uint32_t inner, const ResultFlow& flow) {
  std::vector<TypeId> found;
  auto add = [&](TypeId t) {
    if (t == kVoid || prog.type(prog.strip(t)).size == 0) return;
    const Type& ty = prog.type(prog.strip(t));
    if (ty.kind != TypeKind::Struct && ty.kind != TypeKind::Union) return;  // void *, char *: no proof
    if (site.size != 0 && site.size % ty.size != 0) return;
    for (TypeId f : found)
      if (prog.strip(f) == prog.strip(t)) return;
    found.push_back(t);
  };
  const auto [first, end] = index.function_of(inner);
  for (uint32_t s = first; s < end; ++s)
    for (uint32_t v : index.variables(s)) {
      const HintVariable& var = h.variables[v];
      for (const FlowPoint& at : flow.points)
        if (covers(h.scopes[s].ranges, at.pc) && holds(var, at)) add(struct_pointee(prog, var.type));
      for (const FlowStore& st : flow.stores)
        if (covers(h.scopes[s].ranges, st.pc) && in_register(var, st.pc, st.base))
          if (TypeId holder = struct_pointee(prog, var.type); holder != kVoid && st.disp >= 0)
            add(pointee_in(prog, holder, uint64_t(st.disp), true));
    }
  for (uint64_t a : flow.globals)
    for (const Global& g : prog.globals)
      if (!g.tls && a >= g.addr && a < g.addr + g.size) add(pointee_in(prog, g.type, a - g.addr, true));
  return found;
}

// No proof: the struct pointers in scope at the call, suspects only (site_hints.h).
void suspects(const HintScopes& h, const ScopeIndex& index, const Program& prog, AllocSite& site, uint32_t inner) {
  std::vector<TypeId> found;
  std::set<TypeId> seen;
  bool bytes = false;  // a void * / char * in scope may receive it instead
  for (uint32_t s = inner; s != kNoScope; s = h.scopes[s].parent) {
    for (uint32_t v : index.variables(s))
      bytes |= bytes_pointer(prog, h.variables[v].type) && !covers(h.variables[v].live, site.call_addr);
    for (uint32_t v : index.variables(s))
      if (covers(h.variables[v].live, site.call_addr)) continue;  // holds something else across the call
      else if (TypeId t = struct_pointee(prog, h.variables[v].type);
          t != kVoid && (site.size == 0 || site.size % prog.type(prog.strip(t)).size == 0) &&
          seen.insert(prog.strip(t)).second)
        found.push_back(t);
    if (h.scopes[s].boundary) break;
  }
  if (!found.empty()) site.candidates = std::move(found), site.uncertain = bytes;
}

// One site: the proven type, the proven candidates, or the suspects.
void hint_site(const HintScopes& h, const ScopeIndex& index, const Program& prog, AllocSite& site,
               const ResultFlow* flow) {
  uint32_t inner = index.innermost(site.call_addr);
  if (inner == kNoScope) return;
  std::vector<TypeId> proven;
  if (flow) proven = proven_types(h, index, prog, site, inner, *flow);
  if (proven.size() == 1) site.type = proven[0];
  else if (!proven.empty()) site.candidates = std::move(proven), site.uncertain = false;
  else suspects(h, index, prog, site, inner);
}

}  // namespace

PcRanges read_live_ranges(Dwarf_Debug dbg, Dwarf_Die die, bool whole) {
  if (whole) return PcRanges{{0, ~uint64_t{0}}};
  PcRanges out;
  Dwarf_Error err = nullptr;
  Dwarf_Attribute attr = nullptr;
  if (dwarf_attr(die, DW_AT_location, &attr, &err) != DW_DLV_OK) {
    if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
    return out;
  }
  Dwarf_Loc_Head_c head = nullptr;
  Dwarf_Unsigned count = 0;
  if (dwarf_get_loclist_c(attr, &head, &count, &err) == DW_DLV_OK) {
    unsigned int kind = DW_LKIND_unknown;
    if (dwarf_get_loclist_head_kind(head, &kind, &err) != DW_DLV_OK) kind = DW_LKIND_unknown;
    if (kind == DW_LKIND_expression) out.emplace_back(0, ~uint64_t{0});
    for (Dwarf_Unsigned i = 0; i < count && kind != DW_LKIND_expression && kind != DW_LKIND_unknown; ++i) {
      Dwarf_Small lle = 0, source = 0;
      Dwarf_Unsigned raw_low = 0, raw_high = 0, ops = 0, expr_off = 0, desc_off = 0;
      Dwarf_Bool unavailable = false;
      Dwarf_Addr low = 0, high = 0;
      Dwarf_Locdesc_c desc = nullptr;
      if (dwarf_get_locdesc_entry_d(head, i, &lle, &raw_low, &raw_high, &unavailable, &low, &high, &ops, &desc,
                                    &source, &expr_off, &desc_off, &err) != DW_DLV_OK)
        break;
      if (ops > 0 && low < high) out.emplace_back(low, high);
    }
    dwarf_loc_head_c_dealloc(head);
  }
  if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
  dwarf_dealloc(dbg, attr, DW_DLA_ATTR);
  return out;
}

bool constant_expression(const std::vector<uint8_t>& expr, uint64_t& value) {
  if (expr.empty()) return false;
  const uint8_t op = expr[0];
  const uint8_t* p = expr.data() + 1;
  const uint8_t* end = expr.data() + expr.size();
  if (op >= DW_OP_lit0 && op <= DW_OP_lit31) return value = op - DW_OP_lit0, expr.size() == 1;
  if (op == DW_OP_constu) return value = read_uleb(p, end), p == end;
  int bytes = op == DW_OP_const1u ? 1 : op == DW_OP_const2u ? 2 : op == DW_OP_const4u ? 4 : op == DW_OP_const8u ? 8 : 0;
  if (bytes == 0 || expr.size() != size_t(1 + bytes)) return false;
  value = 0;
  for (int i = 0; i < bytes; ++i) value |= uint64_t(p[i]) << (8 * i);
  return true;
}

PcRanges read_scope_ranges(Dwarf_Debug dbg, Dwarf_Die die, bool has_low, bool has_high, bool high_is_offset,
                           uint64_t low, uint64_t high, unsigned cu_version, uint64_t cu_base) {
  PcRanges out;
  if (has_low && has_high) {
    uint64_t end = high_is_offset ? low + high : high;
    if (low < end) out.emplace_back(low, end);
    return out;
  }
  Dwarf_Error err = nullptr;
  Dwarf_Attribute attr = nullptr;
  if (dwarf_attr(die, DW_AT_ranges, &attr, &err) != DW_DLV_OK) {
    if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
    return out;
  }
  Dwarf_Half form = 0;
  Dwarf_Unsigned value = 0;
  Dwarf_Off offset = 0;
  if (dwarf_whatform(attr, &form, &err) == DW_DLV_OK) {
    if (form == DW_FORM_rnglistx) {
      if (dwarf_formudata(attr, &value, &err) == DW_DLV_OK) read_rnglists(attr, form, value, out);
    } else if (dwarf_global_formref(attr, &offset, &err) == DW_DLV_OK) {
      if (cu_version >= 5) read_rnglists(attr, form, offset, out);
      else read_ranges(dbg, die, offset, cu_base, out);
    }
  }
  if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
  dwarf_dealloc(dbg, attr, DW_DLA_ATTR);
  return out;
}

void hint_from_scopes(const HintScopes& scopes, Program& prog, const std::set<uint64_t>& received,
                      const std::map<uint64_t, ResultFlow>& flows) {
  if (scopes.scopes.empty()) return;
  ScopeIndex index(scopes);
  std::map<uint64_t, const HintCall*> calls;
  for (const HintCall& c : scopes.calls) calls[c.return_pc] = &c;
  for (AllocSite& site : prog.alloc_sites) {
    auto call = calls.find(site.return_addr);
    site.size = allocation_size(site.allocator, call == calls.end() ? nullptr : call->second);
  }
  for (AllocSite& site : prog.alloc_sites)
    if (site.type == kVoid && site.candidates.empty() && !received.count(site.return_addr) &&
        site.allocator != "strdup" && site.allocator != "strndup") {  // a copy of a string, whatever is in scope
      auto flow = flows.find(site.return_addr);
      hint_site(scopes, index, prog, site, flow == flows.end() ? nullptr : &flow->second);
    }
}

}  // namespace ttst::dwarfmeta
