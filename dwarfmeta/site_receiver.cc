// site_receiver.cc — see site_receiver.h.
#include "dwarfmeta/site_receiver.h"

#include <capstone/capstone.h>
#include <elf.h>

#include <algorithm>

#include "dwarfmeta/alloc_sites.h"  // sets_frame_pointer
#include "dwarfmeta/error.h"
#include "inject/sys/x86_decoder.h"

namespace ttst::dwarfmeta {
namespace {

constexpr int kRsp = 7, kRbp = 6;
// Clobbered by a call (System V): rax, rdx, rcx, rsi, rdi, r8-r11.
constexpr uint16_t kCallerSaved = (1u << 0) | (1u << 1) | (1u << 2) | (1u << 4) | (1u << 5) | (0xfu << 8);

// The DWARF number of the 64-bit register `r` is part of (eax -> 0), or -1.
int dwarf_reg(unsigned r) {
  static const unsigned kRegs[16][4] = {
      {X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL},   {X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL},
      {X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL},   {X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL},
      {X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL},  {X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL},
      {X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL},  {X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL},
      {X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B},  {X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B},
      {X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B}, {X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B},
      {X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B}, {X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B},
      {X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B}, {X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B}};
  if (r == X86_REG_AH) return 0;
  if (r == X86_REG_DH) return 1;
  if (r == X86_REG_CH) return 2;
  if (r == X86_REG_BH) return 3;
  for (int n = 0; n < 16; ++n)
    if (std::find(kRegs[n], kRegs[n] + 4, r) != kRegs[n] + 4) return n;
  return -1;
}

// A full 64-bit general register's DWARF number, or -1.
int full_reg(const cs_x86_op& op) {
  if (op.type != X86_OP_REG || op.size != 8) return -1;
  return dwarf_reg(op.reg);
}

// The result's holders as the walk goes.
class Holders {
 public:
  explicit Holders(bool framed) : framed_(framed) {}
  bool empty() const { return regs_ == 0 && rsp_.empty() && cfa_.empty(); }
  bool reg(int n) const { return n >= 0 && (regs_ >> n) & 1; }
  void set_reg(int n, bool on) {
    if (n < 0) return;
    regs_ = on ? uint16_t(regs_ | (1u << n)) : uint16_t(regs_ & ~(1u << n));
  }
  // A stack slot addressed by [base + disp]: its list and key, or nullptr (not a slot).
  std::vector<int64_t>* slot(int base, int64_t disp, int64_t* key) {
    if (base == kRsp) return *key = disp, &rsp_;
    if (base == kRbp && framed_) return *key = disp - 16, &cfa_;
    return nullptr;
  }
  bool has(std::vector<int64_t>& list, int64_t key) const {
    return std::find(list.begin(), list.end(), key) != list.end();
  }
  void set(std::vector<int64_t>& list, int64_t key, bool on) {
    auto it = std::find(list.begin(), list.end(), key);
    if (on && it == list.end()) list.push_back(key);
    if (!on && it != list.end()) list.erase(it);
  }
  void shift_rsp(int64_t by) {  // rsp moved down by `by` bytes: each slot's offset grows
    for (int64_t& k : rsp_) k += by;
  }
  void lose_rsp() { rsp_.clear(); }
  void clear() { regs_ = 0, rsp_.clear(), cfa_.clear(); }
  void drop_caller_saved() { regs_ &= uint16_t(~kCallerSaved); }
  FlowPoint point(uint64_t pc) const { return FlowPoint{pc, regs_, rsp_, cfa_}; }

 private:
  bool framed_;
  uint16_t regs_ = 1;  // rax
  std::vector<int64_t> rsp_, cfa_;
};

bool ends_path(const cs_insn& insn) {
  return insn.id == X86_INS_RET || insn.id == X86_INS_JMP || (insn.id >= X86_INS_JAE && insn.id <= X86_INS_JS) ||
         insn.id == X86_INS_HLT || insn.id == X86_INS_UD2 || insn.id == X86_INS_INT3 || insn.id == X86_INS_JRCXZ ||
         insn.id == X86_INS_JECXZ || insn.id == X86_INS_LOOP;
}

// `mov [mem], reg`: a holder stored (slot, global or member) or a slot overwritten.
bool store(const cs_insn& insn, Holders& h, ResultFlow& flow) {
  const cs_x86& x = insn.detail->x86;
  if (x.op_count != 2 || x.operands[0].type != X86_OP_MEM) return false;
  const x86_op_mem& m = x.operands[0].mem;
  const bool holder = insn.id == X86_INS_MOV && h.reg(full_reg(x.operands[1]));
  if (m.index != X86_REG_INVALID) return false;
  int64_t key = 0;
  if (auto* list = h.slot(dwarf_reg(m.base), m.disp, &key)) {
    h.set(*list, key, holder);  // anything else written there ends it
    return insn.id == X86_INS_MOV;
  }
  if (!holder) return false;
  if (m.base == X86_REG_RIP) flow.globals.push_back(insn.address + insn.size + m.disp);
  else if (int base = dwarf_reg(m.base); base >= 0 && !h.reg(base))
    flow.stores.push_back(FlowStore{insn.address, uint8_t(base), m.disp});
  return true;
}

// `mov reg, reg` / `mov reg, [slot]`: the destination holds the result iff the source does.
bool copy(const cs_insn& insn, Holders& h) {
  const cs_x86& x = insn.detail->x86;
  if (insn.id != X86_INS_MOV || x.op_count != 2) return false;
  const int dst = full_reg(x.operands[0]);
  if (dst < 0 || dst == kRsp) return false;
  if (x.operands[1].type == X86_OP_REG) return h.set_reg(dst, h.reg(full_reg(x.operands[1]))), true;
  if (x.operands[1].type != X86_OP_MEM || x.operands[1].mem.index != X86_REG_INVALID) return false;
  int64_t key = 0;
  auto* list = h.slot(dwarf_reg(x.operands[1].mem.base), x.operands[1].mem.disp, &key);
  h.set_reg(dst, list && x.operands[1].size == 8 && h.has(*list, key));
  return true;
}

// push / pop / sub rsp, imm / add rsp, imm: the rsp slots move.
bool stack_op(const cs_insn& insn, Holders& h) {
  const cs_x86& x = insn.detail->x86;
  std::vector<int64_t>* rsp = nullptr;
  int64_t zero = 0;
  if (insn.id == X86_INS_PUSH && x.op_count == 1) {
    h.shift_rsp(8);
    rsp = h.slot(kRsp, 0, &zero);
    return h.set(*rsp, 0, h.reg(full_reg(x.operands[0]))), true;
  }
  if (insn.id == X86_INS_POP && x.op_count == 1 && full_reg(x.operands[0]) >= 0) {
    rsp = h.slot(kRsp, 0, &zero);
    h.set_reg(full_reg(x.operands[0]), h.has(*rsp, 0));
    h.set(*rsp, 0, false);
    return h.shift_rsp(-8), true;
  }
  if ((insn.id == X86_INS_SUB || insn.id == X86_INS_ADD) && x.op_count == 2 && full_reg(x.operands[0]) == kRsp &&
      x.operands[1].type == X86_OP_IMM)
    return h.shift_rsp(insn.id == X86_INS_SUB ? x.operands[1].imm : -x.operands[1].imm), true;
  return false;
}

// Any other instruction: each register it writes stops holding the result.
void clobber(csh handle, const cs_insn& insn, Holders& h) {
  cs_regs read, written;
  uint8_t nread = 0, nwritten = 0;
  if (cs_regs_access(handle, &insn, read, &nread, written, &nwritten) != CS_ERR_OK) {
    h.clear();  // unknown effect: nothing is known to hold it
    return;
  }
  for (uint8_t i = 0; i < nwritten; ++i) {
    int n = dwarf_reg(written[i]);
    if (n == kRsp) h.lose_rsp();
    else h.set_reg(n, false);
  }
  if (insn.id == X86_INS_CALL) h.drop_caller_saved();
}

ResultFlow follow(sys::X86Decoder& cs, const uint8_t* code, size_t size, uint64_t addr, bool framed) {
  ResultFlow flow;
  Holders h(framed);
  for (int budget = kFlowBudget; budget > 0 && size > 0 && !h.empty(); --budget) {
    const cs_insn* insn = cs.next(code, size, addr);
    if (!insn) break;
    flow.points.push_back(h.point(insn->address));
    if (ends_path(*insn)) break;
    if (!store(*insn, h, flow) && !copy(*insn, h) && !stack_op(*insn, h)) clobber(cs.handle(), *insn, h);
  }
  return flow;
}

}  // namespace

std::map<uint64_t, ResultFlow> trace_results(const ElfFile& elf, const Program& prog) {
  std::map<uint64_t, ResultFlow> out;
  if (prog.alloc_sites.empty()) return out;
  sys::X86Decoder cs(true);
  if (!cs.opened()) throw Error(ErrorKind::BadDwarf, "cannot start the Capstone disassembler: reinstall libcapstone4");
  for (const Section& s : elf.sections()) {
    if (!(s.flags & SHF_EXECINSTR) || s.type != SHT_PROGBITS) continue;
    std::vector<uint8_t> code;
    for (const AllocSite& site : prog.alloc_sites) {
      if (site.return_addr < s.addr || site.return_addr >= s.addr + s.size) continue;
      if (code.empty()) code = elf.data(s);
      const Function* f = prog.function_at(site.call_addr);
      const uint64_t end = f ? std::min<uint64_t>(f->high, s.addr + code.size()) : s.addr + code.size();
      if (site.return_addr >= end) continue;
      const bool framed = f && f->low >= s.addr && f->low < s.addr + code.size() &&
                          sets_frame_pointer(code.data() + (f->low - s.addr), s.addr + code.size() - f->low);
      out[site.return_addr] =
          follow(cs, code.data() + (site.return_addr - s.addr), end - site.return_addr, site.return_addr, framed);
    }
  }
  return out;
}

}  // namespace ttst::dwarfmeta
