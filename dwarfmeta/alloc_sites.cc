// alloc_sites.cc — Capstone decoding of each function's body, call by call.
#include "dwarfmeta/alloc_sites.h"

#include <capstone/capstone.h>
#include <elf.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <unordered_map>
#include <unordered_set>

#include "dwarfmeta/error.h"
#include "inject/sys/x86_decoder.h"

namespace ttst::dwarfmeta {

const std::set<std::string>& standard_allocators() {
  static const std::set<std::string> names = {"malloc", "calloc", "realloc", "strdup",
                                              "strndup", "posix_memalign", "aligned_alloc"};
  return names;
}

namespace {

// The function a name designates: "malloc@GLIBC_2.2.5" and "__wrap_malloc" are malloc.
std::string canonical(std::string name) {
  auto at = name.find('@');
  if (at != std::string::npos) name.resize(at);
  if (name.rfind("__wrap_", 0) == 0) name = name.substr(7);
  return name;
}

// Capstone's decoder (inject/sys) with dwarfmeta's error and a walk over a range.
class Capstone {
 public:
  explicit Capstone(bool detail) : decoder_(detail) {
    if (!decoder_.opened())
      throw Error(ErrorKind::BadDwarf, "cannot start the Capstone disassembler: reinstall libcapstone4");
  }

  // Calls fn(insn) for each instruction of [code, code+size) at address `addr`,
  // skipping undecodable bytes.
  template <class F>
  void each(const uint8_t* code, size_t size, uint64_t addr, F&& fn) {
    while (size > 0) {
      if (const cs_insn* insn = decoder_.next(code, size, addr)) {
        fn(*insn);
      } else {
        ++code, --size, ++addr;
      }
    }
  }

 private:
  sys::X86Decoder decoder_;
};

// Address of the memory operand [rip + disp] of `insn`, or 0.
uint64_t rip_slot(const cs_insn& insn) {
  const cs_x86& x = insn.detail->x86;
  if (x.op_count != 1 || x.operands[0].type != X86_OP_MEM) return 0;
  const x86_op_mem& m = x.operands[0].mem;
  if (m.base == X86_REG_RIP && m.index == X86_REG_INVALID) return insn.address + insn.size + m.disp;
  if (m.base == X86_REG_INVALID && m.index == X86_REG_INVALID) return static_cast<uint64_t>(m.disp);
  return 0;
}

// The target of a direct call (kind 1) or the memory slot of an indirect call
// through memory (kind 2) from the instruction bytes: Capstone finds instruction
// boundaries without operand details (much faster), and calls have few encodings:
//   [prefixes] E8 rel32            call target
//   [prefixes] FF 15 disp32        call *disp(%rip)
//   [prefixes] FF 14 25 disp32     call *disp
int call_operand(const cs_insn& insn, uint64_t& value) {
  const uint8_t* b = insn.bytes;
  size_t n = insn.size, i = 0;
  while (i < n && (b[i] == 0xf2 || b[i] == 0x3e || b[i] == 0x2e || b[i] == 0x66)) ++i;
  auto rel32 = [&](size_t at) {
    int32_t d;
    std::memcpy(&d, b + at, 4);
    return static_cast<int64_t>(d);
  };
  if (i + 5 == n && b[i] == 0xe8) {
    value = insn.address + n + rel32(i + 1);
    return 1;
  }
  if (i + 6 == n && b[i] == 0xff && b[i + 1] == 0x15) {
    value = insn.address + n + rel32(i + 2);
    return 2;
  }
  if (i + 7 == n && b[i] == 0xff && b[i + 1] == 0x14 && b[i + 2] == 0x25) {
    value = static_cast<uint64_t>(rel32(i + 3));
    return 2;
  }
  return 0;
}

}  // namespace

namespace {

// GCC splits a function into fragments named after it: "f.part.0" (partial
// inlining: f keeps a test, the rest moves), "f.cold" (unlikely paths), and
// "f.isra.0" / "f.constprop.0" clones. The split depends on the optimiser, not on
// the source, and one version may get it while the other does not: sites are
// therefore numbered per *source* function across its fragments (f first, then
// its parts, then its cold part; address order within each), so `f#0` stays `f#0`
// when f's body moves to f.part.0 (a plan would list it dropped and another added).
size_t fragment_suffix(const std::string& name) {
  size_t cut = std::string::npos;
  for (const char* suffix : {".part.", ".cold", ".isra.", ".constprop."}) {
    const size_t at = name.find(suffix);
    if (at != std::string::npos && at > 0 && at < cut) cut = at;
  }
  return cut;
}

int fragment_rank(const std::string& name) {
  if (name.find(".cold") != std::string::npos) return 2;
  return name.find(".part.") != std::string::npos ? 1 : 0;
}

// Function ID -> the ID of the source function it is a fragment of (only fragments):
// the function named like its base (`f`, or a clone of it), else the fragment's own
// ID with the suffix cut.
std::map<std::string, std::string> source_function_ids(const std::vector<Function>& functions) {
  std::map<std::string, std::string> by_name, out;
  for (const Function& f : functions)
    if (fragment_suffix(f.name) == std::string::npos) by_name.emplace(f.name, f.id);
  for (const Function& f : functions) {
    const size_t cut = fragment_suffix(f.name);
    if (cut == std::string::npos || (f.name.find(".part.") == std::string::npos && f.name.find(".cold") == std::string::npos))
      continue;  // not split (isra / constprop clones have the base's ID already: load.cc)
    const std::string base = f.name.substr(0, cut);
    auto it = by_name.find(base);
    if (it != by_name.end()) {
      out[f.id] = it->second;
      continue;
    }
    const size_t in_id = f.id.rfind(f.name.substr(cut));
    out[f.id] = in_id == std::string::npos ? f.id : f.id.substr(0, in_id);
  }
  return out;
}

// Ordinals per source function: its fragments in rank order, then by address.
void number_sites(std::vector<AllocSite>& sites, const std::vector<std::pair<int, std::string>>& fragment) {
  std::vector<size_t> order(sites.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(sites[a].caller, fragment[a], sites[a].call_addr) <
           std::tie(sites[b].caller, fragment[b], sites[b].call_addr);
  });
  std::unordered_map<std::string, uint32_t> next_ordinal;  // by caller ID
  for (size_t i : order) {
    AllocSite& site = sites[i];
    site.ordinal = next_ordinal[site.caller]++;
    site.id = site.caller + "#" + std::to_string(site.ordinal);
  }
}

}  // namespace

std::vector<AllocSite> find_alloc_sites(const ElfFile& elf, const std::vector<Function>& functions,
                                        const std::set<std::string>& allocators) {
  Capstone cs(true);  // PLT stubs: few instructions, operands from Capstone
  Capstone fast(false);
  std::unordered_map<uint64_t, std::string> got;      // GOT slot -> symbol
  for (const GotSlot& g : elf.got_slots()) got[g.addr] = canonical(g.symbol);
  std::unordered_map<uint64_t, std::string> target;   // call target -> callee
  for (const Section& s : elf.sections()) {
    if (s.name != ".plt" && s.name != ".plt.sec" && s.name != ".plt.got") continue;
    std::vector<uint8_t> code = elf.data(s);
    cs.each(code.data(), code.size(), s.addr, [&](const cs_insn& insn) {
      if (insn.id != X86_INS_JMP) return;
      uint64_t slot = rip_slot(insn);
      auto it = got.find(slot);
      if (!slot || it == got.end()) return;
      // The stub starts at the entry boundary (8 or 16 bytes) or at the jmp itself.
      for (uint64_t a : {insn.address, insn.address & ~uint64_t(7), insn.address & ~uint64_t(15)})
        if (a >= s.addr) target.emplace(a, it->second);
    });
  }
  for (const Function& f : functions) target.emplace(f.low, canonical(f.name));

  // Byte-level prefilter: a function can only call an allocator if its bytes hold
  // E8 rel32 reaching an allocator, or FF 15 / FF 14 25 naming an allocator's GOT
  // slot, at some position. Functions without one are not decoded at all.
  std::unordered_set<uint64_t> alloc_targets, alloc_slots;
  for (const auto& [addr, name] : target)
    if (allocators.count(name)) alloc_targets.insert(addr);
  for (const auto& [addr, name] : got)
    if (allocators.count(name)) alloc_slots.insert(addr);
  auto may_allocate = [&](const uint8_t* b, size_t n, uint64_t addr) {
    for (size_t i = 0; i + 5 <= n; ++i) {
      int32_t d;
      if (b[i] == 0xe8) {
        std::memcpy(&d, b + i + 1, 4);
        if (alloc_targets.count(addr + i + 5 + static_cast<int64_t>(d))) return true;
      } else if (b[i] == 0xff && i + 6 <= n && b[i + 1] == 0x15) {
        std::memcpy(&d, b + i + 2, 4);
        if (alloc_slots.count(addr + i + 6 + static_cast<int64_t>(d))) return true;
      } else if (b[i] == 0xff && i + 7 <= n && b[i + 1] == 0x14 && b[i + 2] == 0x25) {
        std::memcpy(&d, b + i + 3, 4);
        if (alloc_slots.count(static_cast<uint64_t>(static_cast<int64_t>(d)))) return true;
      }
    }
    return false;
  };

  std::vector<AllocSite> sites;
  std::vector<std::pair<int, std::string>> fragment;  // per site: its fragment's rank and name (clone_fragments)
  const std::map<std::string, std::string> whole = source_function_ids(functions);
  for (const Section& s : elf.sections()) {
    if (!(s.flags & SHF_EXECINSTR) || s.type != SHT_PROGBITS || s.name.rfind(".plt", 0) == 0) continue;
    std::vector<uint8_t> code = elf.data(s);
    for (const Function& f : functions) {
      if (f.low < s.addr || f.high > s.addr + code.size() || f.high <= f.low) continue;
      if (!may_allocate(code.data() + (f.low - s.addr), f.high - f.low, f.low)) continue;
      fast.each(code.data() + (f.low - s.addr), f.high - f.low, f.low, [&](const cs_insn& insn) {
        if (insn.id != X86_INS_CALL) return;
        std::string callee;
        uint64_t value = 0;
        int kind = call_operand(insn, value);
        if (kind == 1) {
          auto it = target.find(value);
          if (it != target.end()) callee = it->second;
        } else if (kind == 2) {
          auto it = got.find(value);
          if (it != got.end()) callee = it->second;
        }
        if (callee.empty() || !allocators.count(callee)) return;
        AllocSite site;
        auto source = whole.find(f.id);
        site.caller = source == whole.end() ? f.id : source->second;
        site.allocator = callee;
        site.call_addr = insn.address;
        site.return_addr = insn.address + insn.size;
        sites.push_back(std::move(site));
        fragment.emplace_back(fragment_rank(f.name), f.name);
      });
    }
  }
  number_sites(sites, fragment);
  std::sort(sites.begin(), sites.end(),
            [](const AllocSite& a, const AllocSite& b) { return a.return_addr < b.return_addr; });
  return sites;
}

namespace {

// A type a heap object can have: not void, not a function.
bool is_object_type(const Program& p, TypeId t) {
  TypeKind k = p.type(p.strip(t)).kind;
  return k != TypeKind::Void && k != TypeKind::Function;
}

// The pointee type of the pointer stored at link-time address `a`, or void.
TypeId pointee_at(const Program& p, uint64_t a) {
  for (const Global& g : p.globals) {
    if (g.tls || a < g.addr || a >= g.addr + g.size) continue;
    return pointee_in(p, g.type, a - g.addr, false);
  }
  return kVoid;
}

}  // namespace

TypeId pointee_in(const Program& p, TypeId type, uint64_t off, bool strict_unions) {
  TypeId t = p.strip(type);
  for (int depth = 0; depth < 16; ++depth) {
    const Type& ty = p.type(t);
    if (ty.kind == TypeKind::Pointer) return off == 0 ? ty.target : kVoid;
    if (ty.kind == TypeKind::Array) {
      uint64_t elem = p.type(ty.target).size;
      if (elem == 0) return kVoid;
      off %= elem;
      t = p.strip(ty.target);
      continue;
    }
    if (ty.kind != TypeKind::Struct && ty.kind != TypeKind::Union) return kVoid;
    const Member* found = nullptr;
    int covering = 0;
    for (const Member& m : ty.members)
      if (!m.is_bitfield() && off >= m.offset && off < m.offset + p.type(m.type).size) found = &m, ++covering;
    if (!found || (strict_unions && covering > 1)) return kVoid;
    off -= found->offset;
    t = p.strip(found->type);
  }
  return kVoid;
}

// Does the function starting at code[0] set up rbp as its frame pointer (an optional
// endbr64, push rbp, mov rbp, rsp)? Then rbp is its CFA - 16 throughout its body.
bool sets_frame_pointer(const uint8_t* code, uint64_t size) {
  static const uint8_t kEndbr[] = {0xf3, 0x0f, 0x1e, 0xfa}, kProlog[] = {0x55, 0x48, 0x89, 0xe5};
  if (size >= 4 && std::equal(kEndbr, kEndbr + 4, code)) code += 4, size -= 4;
  return size >= 4 && std::equal(kProlog, kProlog + 4, code);
}

namespace {

// The pointee type of the local of function `low` at rbp + disp (a frame-pointer
// function: rbp = CFA - 16), or void: at -O0 the result of malloc goes straight
// into the local `struct rec *r`, and only from there into a `void *` slot. Only a
// struct or union counts: `char *buf = malloc(n)` is as often raw memory a struct
// is later built in, and typed char it would be copied without the untyped
// objects' pointer check.
TypeId pointee_of_local(const Program& p, uint64_t low, int64_t disp, bool* found = nullptr) {
  auto it = std::lower_bound(p.locals.begin(), p.locals.end(), std::make_pair(low, disp - 16),
                             [](const Local& l, const std::pair<uint64_t, int64_t>& k) {
                               return l.function_low != k.first ? l.function_low < k.first : l.cfa_offset < k.second;
                             });
  if (it == p.locals.end() || it->function_low != low || it->cfa_offset != disp - 16) return kVoid;
  if (found) *found = true;  // a declared local receives it, whatever its type
  const Type& t = p.type(p.strip(it->type));
  if (t.kind != TypeKind::Pointer) return kVoid;
  TypeKind k = p.type(p.strip(t.target)).kind;
  return k == TypeKind::Struct || k == TypeKind::Union ? t.target : kVoid;
}

bool writes_rax(const cs_insn& insn) {
  const cs_x86& x = insn.detail->x86;
  if (x.op_count >= 1 && x.operands[0].type == X86_OP_REG) {
    x86_reg r = x.operands[0].reg;
    if (r == X86_REG_RAX || r == X86_REG_EAX || r == X86_REG_AX || r == X86_REG_AL) return true;
  }
  return false;
}

}  // namespace

void hint_alloc_types(const ElfFile& elf, Program& prog, std::set<uint64_t>* received) {
  if (prog.alloc_sites.empty()) return;
  Capstone cs(true);
  for (const Section& s : elf.sections()) {
    if (!(s.flags & SHF_EXECINSTR) || s.type != SHT_PROGBITS) continue;
    std::vector<uint8_t> code;
    for (AllocSite& site : prog.alloc_sites) {
      if (site.return_addr < s.addr || site.return_addr >= s.addr + s.size) continue;
      if (code.empty()) code = elf.data(s);
      const Function* f = prog.function_at(site.call_addr);
      uint64_t end = f ? std::min<uint64_t>(f->high, s.addr + code.size()) : s.addr + code.size();
      if (site.return_addr >= end) continue;
      int budget = 6;
      bool done = false;
      cs.each(code.data() + (site.return_addr - s.addr), std::min<uint64_t>(end - site.return_addr, 64),
              site.return_addr, [&](const cs_insn& insn) {
                if (done || budget-- <= 0) return void(done = true);
                const cs_x86& x = insn.detail->x86;
                if (insn.id == X86_INS_MOV && x.op_count == 2 && x.operands[0].type == X86_OP_MEM &&
                    x.operands[1].type == X86_OP_REG && x.operands[1].reg == X86_REG_RAX &&
                    x.operands[0].mem.base == X86_REG_RIP && x.operands[0].mem.index == X86_REG_INVALID) {
                  TypeId t = pointee_at(prog, insn.address + insn.size + x.operands[0].mem.disp);
                  if (is_object_type(prog, t)) site.type = t;
                  if (received) received->insert(site.return_addr);
                  done = true;
                  return;
                }
                if (insn.id == X86_INS_MOV && x.op_count == 2 && x.operands[0].type == X86_OP_MEM &&
                    x.operands[1].type == X86_OP_REG && x.operands[1].reg == X86_REG_RAX &&
                    x.operands[0].mem.base == X86_REG_RBP && x.operands[0].mem.index == X86_REG_INVALID) {
                  bool framed = f && f->low >= s.addr && sets_frame_pointer(code.data() + (f->low - s.addr),
                                                                            s.addr + code.size() - f->low);
                  bool local = false;
                  TypeId t = framed ? pointee_of_local(prog, f->low, x.operands[0].mem.disp, &local) : kVoid;
                  if (is_object_type(prog, t)) site.type = t;
                  if (received && local) received->insert(site.return_addr);
                  done = true;
                  return;
                }
                if (writes_rax(insn) || insn.id == X86_INS_CALL || insn.id == X86_INS_RET ||
                    (insn.id >= X86_INS_JAE && insn.id <= X86_INS_JS) || insn.id == X86_INS_JMP)
                  done = true;
              });
    }
  }
}

}  // namespace ttst::dwarfmeta
