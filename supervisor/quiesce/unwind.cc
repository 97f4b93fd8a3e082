// unwind.cc — see unwind.h.
#include "supervisor/quiesce/unwind.h"

#include <fcntl.h>
#include <gelf.h>
#include <libdwarf/dwarf.h>
#include <libdwarf/libdwarf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <span>

#include "inject/memory.h"
#include "supervisor/quiesce/library_function.h"

namespace ttst::quiesce {
namespace {

constexpr Dwarf_Signed kRbp = 6, kRsp = 7;
constexpr Dwarf_Half kRaColumn = 16;
constexpr Dwarf_Half kRbpColumn = 6;

std::string hex(uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace

// One mapped ELF file: its PT_LOAD segments (file offset -> link address) and its
// .eh_frame FDEs.
struct Unwinder::Module {
  int fd = -1;
  Dwarf_Debug dbg = nullptr;
  Dwarf_Cie* cies = nullptr;
  Dwarf_Signed ncies = 0;
  Dwarf_Fde* fdes = nullptr;
  Dwarf_Signed nfdes = 0;
  struct Segment {
    uint64_t offset, filesz, vaddr;
  };
  std::vector<Segment> segments;
  std::string name;

  ~Module() {
    if (fdes || cies) dwarf_fde_cie_list_dealloc(dbg, cies, ncies, fdes, nfdes);
    if (dbg) dwarf_finish(dbg, nullptr);
    if (fd >= 0) close(fd);
  }

  bool open_mapped(pid_t pid, const sys::Mapping& m, std::string& doubt) {
    fd = open_mapped_file(pid, m);  // library_function.h
    if (fd < 0) doubt = "cannot open the file mapped as " + m.path;
    return fd >= 0;
  }

  bool load(std::string& doubt) {
    if (fd < 0) return false;
    if (elf_version(EV_CURRENT) == EV_NONE) return (doubt = "libelf version"), false;
    Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
    size_t nph = 0;
    if (elf && elf_kind(elf) == ELF_K_ELF && elf_getphdrnum(elf, &nph) == 0)
      for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD)
          segments.push_back({ph.p_offset, ph.p_filesz, ph.p_vaddr});
      }
    if (elf) elf_end(elf);
    if (segments.empty()) return (doubt = name + " is not an ELF file with segments"), false;
    Dwarf_Error err = nullptr;
    if (dwarf_init_b(fd, DW_DLC_READ, DW_GROUPNUMBER_ANY, nullptr, nullptr, &dbg, &err) != DW_DLV_OK) {
      if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
      dbg = nullptr;
      return (doubt = "no call-frame information in " + name), false;
    }
    // The rule values this file relies on, set explicitly (x86-64: registers not
    // mentioned by a CIE keep their value, as the ABI has it for callee-saved ones).
    dwarf_set_frame_rule_initial_value(dbg, DW_FRAME_SAME_VAL);
    dwarf_set_frame_same_value(dbg, DW_FRAME_SAME_VAL);
    dwarf_set_frame_undefined_value(dbg, DW_FRAME_UNDEFINED_VAL);
    dwarf_set_frame_cfa_value(dbg, DW_FRAME_CFA_COL3);
    if (dwarf_get_fde_list_eh(dbg, &cies, &ncies, &fdes, &nfdes, &err) != DW_DLV_OK) {
      if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
      cies = nullptr;
      fdes = nullptr;
      return (doubt = "no .eh_frame in " + name), false;
    }
    return true;
  }

  // The link-time address of file offset `off`, false when no segment holds it.
  bool link_of(uint64_t off, uint64_t& link) const {
    for (const Segment& s : segments)
      if (off >= s.offset && off < s.offset + s.filesz) return (link = s.vaddr + (off - s.offset)), true;
    return false;
  }

  // One rule at `pc` (link-time): column `col`, or the CFA when col < 0.
  struct Rule {
    Dwarf_Small type = 0;
    Dwarf_Signed offset_relevant = 0, reg = 0, offset = 0;
  };
  bool rule(Dwarf_Fde fde, int col, uint64_t pc, Rule& r) const {
    Dwarf_Ptr block = nullptr;
    Dwarf_Addr row = 0, next = 0;
    Dwarf_Bool more = 0;
    Dwarf_Error err = nullptr;
    int rc = col < 0 ? dwarf_get_fde_info_for_cfa_reg3_b(fde, pc, &r.type, &r.offset_relevant, &r.reg, &r.offset,
                                                         &block, &row, &more, &next, &err)
                     : dwarf_get_fde_info_for_reg3_b(fde, static_cast<Dwarf_Half>(col), pc, &r.type,
                                                     &r.offset_relevant, &r.reg, &r.offset, &block, &row, &more,
                                                     &next, &err);
    if (err) dwarf_dealloc(dbg, err, DW_DLA_ERROR);
    return rc == DW_DLV_OK;
  }
};

namespace {

// Every file's parsed module (unwind.h: parsed once per run), by the identity of the
// opened file; and the lock every unwind holds, since the modules (and libdwarf's
// state behind them) are shared by unwinders that may live on several threads.
std::mutex cfi_lock;
std::map<std::string, std::shared_ptr<Unwinder::Module>> parsed_files;
uint64_t parse_count = 0;
constexpr size_t kParsedFilesMax = 64;  // then forgotten (modules in use live on in their unwinders)

// The module of the file mapped as `m` in `pid`, parsed now unless the same file
// (device, inode, size, modification time) was; nullptr with `doubt` said.
std::shared_ptr<Unwinder::Module> parsed_module(pid_t pid, const sys::Mapping& m, std::string& doubt) {
  auto mod = std::make_shared<Unwinder::Module>();
  mod->name = m.path;
  if (!mod->open_mapped(pid, m, doubt)) return nullptr;
  struct stat st {};
  if (fstat(mod->fd, &st) != 0) return (doubt = "cannot stat the file mapped as " + m.path), nullptr;
  const std::string file = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
                           std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
                           std::to_string(st.st_mtim.tv_nsec);
  if (auto it = parsed_files.find(file); it != parsed_files.end()) return it->second;  // (mod's fd closes)
  parse_count++;
  if (!mod->load(doubt)) return nullptr;
  if (parsed_files.size() >= kParsedFilesMax) parsed_files.clear();
  parsed_files.emplace(file, mod);
  return mod;
}

}  // namespace

uint64_t Unwinder::files_parsed() {
  const std::lock_guard<std::mutex> hold(cfi_lock);
  return parse_count;
}

Unwinder::Unwinder(pid_t pid) : pid_(pid) {}
Unwinder::~Unwinder() {
  const std::lock_guard<std::mutex> hold(cfi_lock);  // a module's last owner may be this one
  modules_.clear();
}

Unwinder::Module* Unwinder::module_at(uint64_t pc, uint64_t& link_pc, std::string& doubt) {
  if (!maps_read_) maps_ = sys::read_maps(pid_);
  maps_read_ = true;
  for (const sys::Mapping& m : maps_) {
    if (!m.contains(pc)) continue;
    if (!m.executable() || m.path.empty() || m.path[0] != '/')
      return (doubt = hex(pc) + " is not in a mapped executable file"), nullptr;
    char range[96];
    snprintf(range, sizeof range, "%llx-%llx %llx %s %llu ", static_cast<unsigned long long>(m.start),
             static_cast<unsigned long long>(m.end), static_cast<unsigned long long>(m.offset), m.dev.c_str(),
             static_cast<unsigned long long>(m.inode));
    const std::string key = range + m.path;
    auto it = modules_.find(key);
    if (it == modules_.end()) {
      std::shared_ptr<Module> mod = parsed_module(pid_, m, doubt);
      if (!mod) return nullptr;
      it = modules_.emplace(key, std::move(mod)).first;
    }
    if (!it->second->link_of(pc - m.start + m.offset, link_pc))
      return (doubt = hex(pc) + " is in no segment of " + m.path), nullptr;
    return it->second.get();
  }
  doubt = hex(pc) + " is not mapped";
  return nullptr;
}

std::vector<UnwoundFrame> Unwinder::unwind(const user_regs_struct& regs, size_t max, std::string& doubt) {
  const std::lock_guard<std::mutex> hold(cfi_lock);
  std::vector<UnwoundFrame> frames;
  uint64_t pc = regs.rip, rsp = regs.rsp, rbp = regs.rbp;
  bool rbp_known = true;
  uint64_t saved[6] = {regs.rbx, regs.rbp, regs.r12, regs.r13, regs.r14, regs.r15};
  uint8_t saved_known = 0x3f;
  uint64_t saved_at[6] = {};  // 0: the thread's own register
  auto read = [&](uint64_t addr, uint64_t& v) {
    return inject::try_read_memory(pid_, addr, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 8)) == 8;
  };
  while (frames.size() < max) {
    UnwoundFrame frame{pc, rsp, 0, {}, saved_known};
    for (int i = 0; i < 6; ++i) frame.saved[i] = saved[i], frame.saved_at[i] = saved_at[i];
    frames.push_back(frame);
    if (frames.size() == max) break;
    uint64_t link = 0;
    Module* mod = module_at(pc, link, doubt);
    if (!mod) break;
    // A caller's pc is a return address: its call instruction is the byte before.
    const uint64_t at = frames.size() == 1 ? link : link - 1;
    Dwarf_Fde fde = nullptr;
    Dwarf_Addr lo = 0, hi = 0;
    Dwarf_Error err = nullptr;
    if (dwarf_get_fde_at_pc(mod->fdes, at, &fde, &lo, &hi, &err) != DW_DLV_OK) {
      if (err) dwarf_dealloc(mod->dbg, err, DW_DLA_ERROR);
      doubt = "no call-frame information for " + hex(pc) + " in " + mod->name;
      break;
    }
    Module::Rule cfa_rule, ra_rule, rbp_rule;
    if (!mod->rule(fde, -1, at, cfa_rule) || !mod->rule(fde, kRaColumn, at, ra_rule) ||
        !mod->rule(fde, kRbpColumn, at, rbp_rule)) {
      doubt = "unreadable call-frame rules for " + hex(pc) + " in " + mod->name;
      break;
    }
    if (cfa_rule.type != DW_EXPR_OFFSET || !cfa_rule.offset_relevant ||
        (cfa_rule.reg != kRsp && cfa_rule.reg != kRbp) || (cfa_rule.reg == kRbp && !rbp_known)) {
      doubt = "the frame at " + hex(pc) + " in " + mod->name + " has a call-frame rule this unwinder does not follow";
      break;
    }
    const uint64_t cfa = (cfa_rule.reg == kRsp ? rsp : rbp) + static_cast<uint64_t>(cfa_rule.offset);
    frames.back().cfa = cfa;
    uint64_t ra = 0;
    if (ra_rule.type == DW_EXPR_OFFSET && ra_rule.reg == DW_FRAME_UNDEFINED_VAL) break;  // the outermost frame
    if (ra_rule.type != DW_EXPR_OFFSET || ra_rule.reg != DW_FRAME_CFA_COL3 || !ra_rule.offset_relevant ||
        !read(cfa + static_cast<uint64_t>(ra_rule.offset), ra)) {
      doubt = "no return address for the frame at " + hex(pc) + " in " + mod->name;
      break;
    }
    if (rbp_rule.type == DW_EXPR_OFFSET && rbp_rule.reg == DW_FRAME_CFA_COL3 && rbp_rule.offset_relevant) {
      rbp_known = read(cfa + static_cast<uint64_t>(rbp_rule.offset), rbp);
      saved_at[1] = cfa + static_cast<uint64_t>(rbp_rule.offset);
    } else if (!(rbp_rule.type == DW_EXPR_OFFSET && !rbp_rule.offset_relevant &&
                 (rbp_rule.reg == DW_FRAME_SAME_VAL || rbp_rule.reg == kRbp))) {
      rbp_known = false;  // undefined, in another register, an expression: lost
    }
    // The caller's callee-saved registers (rbp: below): saved at CFA + N, or
    // unchanged; anything else loses the register.
    for (int i = 0; i < 6; ++i) {
      Module::Rule r;
      if (kCalleeSaved[i] == kRbpColumn) continue;
      if (!mod->rule(fde, kCalleeSaved[i], at, r)) {
        saved_known &= uint8_t(~(1u << i));
      } else if (r.type == DW_EXPR_OFFSET && r.reg == DW_FRAME_CFA_COL3 && r.offset_relevant) {
        if (!read(cfa + static_cast<uint64_t>(r.offset), saved[i])) saved_known &= uint8_t(~(1u << i));
        saved_at[i] = cfa + static_cast<uint64_t>(r.offset);
      } else if (!(r.type == DW_EXPR_OFFSET && !r.offset_relevant &&
                   (r.reg == DW_FRAME_SAME_VAL || r.reg == kCalleeSaved[i]))) {
        saved_known &= uint8_t(~(1u << i));
      }
    }
    if (rbp_known) saved[1] = rbp, saved_known |= 2;
    else saved_known &= ~2;
    if (cfa <= rsp) {
      doubt = "the stack does not grow towards the caller at " + hex(pc);
      break;
    }
    if (ra == 0) break;  // the outermost frame
    pc = ra;
    rsp = cfa;
  }
  return frames;
}

}  // namespace ttst::quiesce
