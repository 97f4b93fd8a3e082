// agent_image.cc — see agent_image.h.
#include "inject/agent_image.h"

#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

#include "inject/agent/agent_abi.h"
#include "inject/agent/agent_blob.h"
#include "inject/error.h"

namespace ttst::inject {
namespace {
constexpr uint64_t kPage = 4096;
uint64_t page_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

struct ElfHandle {
  Elf* e;
  ~ElfHandle() {
    if (e) elf_end(e);
  }
};
}  // namespace

const AgentImage& AgentImage::embedded() {
  static const AgentImage image = parse(agent_elf());
  return image;
}

AgentImage AgentImage::parse(std::span<const unsigned char> bytes) {
  if (elf_version(EV_CURRENT) == EV_NONE) throw InjectError("libelf: version mismatch");
  std::vector<char> copy(bytes.begin(), bytes.end());
  ElfHandle h{elf_memory(copy.data(), copy.size())};
  if (!h.e || elf_kind(h.e) != ELF_K_ELF) throw InjectError("agent: not an ELF file");
  GElf_Ehdr eh;
  if (!gelf_getehdr(h.e, &eh) || eh.e_type != ET_DYN || eh.e_machine != EM_X86_64)
    throw InjectError("agent: not an x86-64 position-independent ELF");

  AgentImage img;
  size_t nph = 0;
  elf_getphdrnum(h.e, &nph);
  struct Seg {
    uint64_t vaddr, memsz, filesz, off;
    int prot;
  };
  std::vector<Seg> segs;
  for (size_t i = 0; i < nph; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(h.e, static_cast<int>(i), &ph)) continue;
    if (ph.p_type == PT_INTERP) throw InjectError("agent: has an interpreter, must be static");
    if (ph.p_type != PT_LOAD) continue;
    if (ph.p_offset + ph.p_filesz > bytes.size()) throw InjectError("agent: truncated segment");
    int prot = ((ph.p_flags & PF_R) ? PROT_READ : 0) | ((ph.p_flags & PF_W) ? PROT_WRITE : 0) |
               ((ph.p_flags & PF_X) ? PROT_EXEC : 0);
    if ((prot & PROT_WRITE) && (prot & PROT_EXEC)) throw InjectError("agent: a segment is writable and executable");
    segs.push_back({ph.p_vaddr, ph.p_memsz, ph.p_filesz, ph.p_offset, prot});
    img.span_ = std::max(img.span_, page_up(ph.p_vaddr + ph.p_memsz));
  }
  if (segs.empty()) throw InjectError("agent: no loadable segment");
  img.image_.assign(img.span_, 0);
  for (const Seg& s : segs)
    std::memcpy(img.image_.data() + s.vaddr, bytes.data() + s.off, s.filesz);

  // Page protections: the union of the segments covering each page.
  std::vector<int> page_prot(img.span_ / kPage, 0);
  for (const Seg& s : segs)
    for (uint64_t p = s.vaddr / kPage; p < page_up(s.vaddr + s.memsz) / kPage; ++p)
      page_prot[p] |= s.prot;
  for (uint64_t p = 0; p < page_prot.size(); ++p) {
    if (!img.prot_.empty() && img.prot_.back().prot == page_prot[p])
      img.prot_.back().size += kPage;
    else
      img.prot_.push_back({p * kPage, kPage, page_prot[p]});
  }
  for (const ProtRun& r : img.prot_)
    if ((r.prot & PROT_WRITE) && (r.prot & PROT_EXEC))
      throw InjectError("agent: a page would be writable and executable");

  // Relocations, symbols and the task table from the section headers.
  bool have_entry = false;
  size_t shstrndx = 0;
  elf_getshdrstrndx(h.e, &shstrndx);
  uint64_t tasks_at = 0, tasks_size = 0;
  for (Elf_Scn* scn = elf_nextscn(h.e, nullptr); scn; scn = elf_nextscn(h.e, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char* section = elf_strptr(h.e, shstrndx, sh.sh_name);
    if (section && std::strcmp(section, kTaskSection) == 0) tasks_at = sh.sh_addr, tasks_size = sh.sh_size;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) continue;
    if (sh.sh_type == SHT_REL) throw InjectError("agent: REL relocations are not supported");
    if (sh.sh_type == SHT_RELA && (sh.sh_flags & SHF_ALLOC)) {
      size_t n = sh.sh_size / sh.sh_entsize;
      for (size_t i = 0; i < n; ++i) {
        GElf_Rela rela;
        gelf_getrela(data, static_cast<int>(i), &rela);
        auto type = GELF_R_TYPE(rela.r_info);
        if (type == R_X86_64_NONE) continue;
        if (type != R_X86_64_RELATIVE)
          throw InjectError(fmt::format("agent: unsupported relocation type {} at {:#x}", type, rela.r_offset));
        if (rela.r_offset + 8 > img.span_) throw InjectError("agent: relocation outside the image");
        img.relative_.emplace_back(rela.r_offset, rela.r_addend);
      }
    }
    if (sh.sh_type == SHT_SYMTAB) {
      size_t n = sh.sh_size / sh.sh_entsize;
      for (size_t i = 0; i < n; ++i) {
        GElf_Sym sym;
        gelf_getsym(data, static_cast<int>(i), &sym);
        const char* name = elf_strptr(h.e, sh.sh_link, sym.st_name);
        if (!name || !*name) continue;
        if (std::strcmp(name, TTST_AGENT_ENTRY) == 0) {
          img.entry_ = sym.st_value;
          have_entry = true;
        }
        if (GELF_ST_TYPE(sym.st_info) == STT_FUNC || GELF_ST_TYPE(sym.st_info) == STT_OBJECT)
          img.symbols_.push_back({sym.st_value, sym.st_size, name});
      }
    }
  }
  if (!have_entry) img.entry_ = eh.e_entry;
  if (img.entry_ == 0 || img.entry_ >= img.span_) throw InjectError("agent: no entry point");
  std::sort(img.symbols_.begin(), img.symbols_.end(),
            [](const Symbol& a, const Symbol& b) { return a.value < b.value; });
  img.read_task_table(tasks_at, tasks_size);
  return img;
}

// The entries of the task table (inject/agent/tasks.h: struct agent_task_entry,
// {uint32_t id; function pointer}, 16 bytes), read from the loaded image; each
// function pointer is a RELATIVE relocation whose addend is the function's offset.
void AgentImage::read_task_table(uint64_t at, uint64_t size) {
  constexpr uint64_t kEntry = 16;
  if (at + size > span_) throw InjectError("agent: task table outside the image");
  for (uint64_t e = at; e + kEntry <= at + size; e += kEntry) {
    uint32_t id = 0;
    std::memcpy(&id, image_.data() + e, sizeof id);
    std::string function;
    for (auto [off, addend] : relative_)
      if (off == e + 8) function = symbolize(static_cast<uint64_t>(addend));
    tasks_.push_back({id, function});
  }
}

std::vector<uint8_t> AgentImage::relocated(uint64_t base) const {
  std::vector<uint8_t> out = image_;
  for (auto [off, addend] : relative_) {
    uint64_t v = base + static_cast<uint64_t>(addend);
    std::memcpy(out.data() + off, &v, 8);
  }
  return out;
}

std::string AgentImage::symbolize(uint64_t offset) const {
  const Symbol* best = nullptr;
  for (const Symbol& s : symbols_)
    if (s.value <= offset && (offset < s.value + std::max<uint64_t>(s.size, 1))) best = &s;
  if (!best) return "";
  return fmt::format("{}+{:#x}", best->name, offset - best->value);
}

}  // namespace ttst::inject
