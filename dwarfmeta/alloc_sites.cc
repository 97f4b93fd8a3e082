// alloc_sites.cc — Capstone decoding of each function's body, call by call.
#include "dwarfmeta/alloc_sites.h"

#include <capstone/capstone.h>
#include <elf.h>

#include <algorithm>
#include <unordered_map>

#include "dwarfmeta/error.h"

namespace dwarfmeta {

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

class Capstone {
 public:
  Capstone() {
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &h_) != CS_ERR_OK)
      throw Error(ErrorKind::BadDwarf, "cannot start the Capstone disassembler: reinstall libcapstone4");
    cs_option(h_, CS_OPT_DETAIL, CS_OPT_ON);
    insn_ = cs_malloc(h_);
  }
  ~Capstone() {
    cs_free(insn_, 1);
    cs_close(&h_);
  }
  Capstone(const Capstone&) = delete;
  Capstone& operator=(const Capstone&) = delete;

  // Calls fn(insn) for each instruction of [code, code+size) at address `addr`,
  // skipping undecodable bytes.
  template <class F>
  void each(const uint8_t* code, size_t size, uint64_t addr, F&& fn) {
    while (size > 0) {
      if (cs_disasm_iter(h_, &code, &size, &addr, insn_)) {
        fn(*insn_);
      } else {
        ++code, --size, ++addr;
      }
    }
  }

 private:
  csh h_ = 0;
  cs_insn* insn_ = nullptr;
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

}  // namespace

std::vector<AllocSite> find_alloc_sites(const ElfFile& elf, const std::vector<Function>& functions,
                                        const std::set<std::string>& allocators) {
  Capstone cs;
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

  std::vector<AllocSite> sites;
  for (const Section& s : elf.sections()) {
    if (!(s.flags & SHF_EXECINSTR) || s.type != SHT_PROGBITS || s.name.rfind(".plt", 0) == 0) continue;
    std::vector<uint8_t> code = elf.data(s);
    for (const Function& f : functions) {
      if (f.low < s.addr || f.high > s.addr + code.size() || f.high <= f.low) continue;
      uint32_t ordinal = 0;  // a function lies in one section: counted once
      cs.each(code.data() + (f.low - s.addr), f.high - f.low, f.low, [&](const cs_insn& insn) {
        if (insn.id != X86_INS_CALL) return;
        const cs_x86& x = insn.detail->x86;
        std::string callee;
        if (x.op_count == 1 && x.operands[0].type == X86_OP_IMM) {
          auto it = target.find(static_cast<uint64_t>(x.operands[0].imm));
          if (it != target.end()) callee = it->second;
        } else if (uint64_t slot = rip_slot(insn)) {
          auto it = got.find(slot);
          if (it != got.end()) callee = it->second;
        }
        if (callee.empty() || !allocators.count(callee)) return;
        AllocSite site;
        site.caller = f.id;
        site.ordinal = ordinal++;
        site.id = f.id + "#" + std::to_string(site.ordinal);
        site.allocator = callee;
        site.call_addr = insn.address;
        site.return_addr = insn.address + insn.size;
        sites.push_back(std::move(site));
      });
    }
  }
  std::sort(sites.begin(), sites.end(),
            [](const AllocSite& a, const AllocSite& b) { return a.return_addr < b.return_addr; });
  return sites;
}

}  // namespace dwarfmeta
