// elf_file.cc — libelf access with the ELF checks that give dwarfmeta's typed errors.
#include "dwarfmeta/elf_file.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dwarfmeta/error.h"

namespace ttst::dwarfmeta {

ElfFile::ElfFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0)
    throw Error(ErrorKind::Unreadable,
                "cannot read " + path + ": " + std::strerror(errno) + ": check the path and permissions");
  struct stat st;
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw Error(ErrorKind::Unreadable, "cannot read " + path + ": not a regular file: give the program's executable");
  }
  unsigned char ident[EI_NIDENT] = {};
  ssize_t n = pread(fd_, ident, sizeof ident, 0);
  if (n < 0) {
    int e = errno;
    ::close(fd_);
    fd_ = -1;
    throw Error(ErrorKind::Unreadable, "cannot read " + path + ": " + std::strerror(e) + ": check the path and permissions");
  }
  if (n < SELFMAG || std::memcmp(ident, ELFMAG, SELFMAG) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw Error(ErrorKind::NotElf, path + " is not an ELF file: give the program's executable, built with -g");
  }
  elf_version(EV_CURRENT);
  elf_ = elf_begin(fd_, ELF_C_READ_MMAP, nullptr);
  GElf_Ehdr eh;
  if (elf_ == nullptr || elf_kind(elf_) != ELF_K_ELF || gelf_getehdr(elf_, &eh) == nullptr) {
    if (elf_) elf_end(elf_);
    ::close(fd_);
    fd_ = -1;
    throw Error(ErrorKind::NotElf, path + " is not a readable ELF file (truncated or corrupt): rebuild it");
  }
  if (eh.e_machine != EM_X86_64 || eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    elf_end(elf_);
    ::close(fd_);
    fd_ = -1;
    std::string what = eh.e_machine != EM_X86_64 ? "e_machine " + std::to_string(eh.e_machine)
                       : eh.e_ident[EI_CLASS] != ELFCLASS64 ? std::string("32-bit")
                                                             : std::string("big-endian");
    throw Error(ErrorKind::NotX86_64, path + " is not an x86-64 ELF binary (" + what +
                                          "): ttst supports Linux x86-64 programs only");
  }
  if (eh.e_shoff + uint64_t(eh.e_shnum) * eh.e_shentsize > uint64_t(st.st_size)) {
    elf_end(elf_);
    ::close(fd_);
    fd_ = -1;
    throw Error(ErrorKind::NotElf, path + " is a truncated ELF file (section headers beyond its end): rebuild it");
  }
  pie_ = eh.e_type == ET_DYN;
  size_t phnum = 0;
  elf_getphdrnum(elf_, &phnum);
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf_, static_cast<int>(i), &ph) && ph.p_type == PT_GNU_RELRO)
      relro_ = {ph.p_vaddr, ph.p_vaddr + ph.p_memsz};
  }
  size_t shstrndx = 0;
  elf_getshdrstrndx(elf_, &shstrndx);
  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn; scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char* name = elf_strptr(elf_, shstrndx, sh.sh_name);
    Section s{name ? name : "", sh.sh_type, sh.sh_flags, sh.sh_addr, sh.sh_size, elf_ndxscn(scn)};
    if (sh.sh_type == SHT_NOTE) {
      Elf_Data* d = elf_getdata(scn, nullptr);
      GElf_Nhdr nh;
      size_t off = 0, name_off, desc_off;
      while (d && (off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            std::memcmp(static_cast<char*>(d->d_buf) + name_off, "GNU", 4) == 0) {
          static const char hex[] = "0123456789abcdef";
          const auto* p = static_cast<const unsigned char*>(d->d_buf) + desc_off;
          build_id_.clear();
          for (size_t i = 0; i < nh.n_descsz; ++i) {
            build_id_ += hex[p[i] >> 4];
            build_id_ += hex[p[i] & 15];
          }
        }
      }
    }
    sections_.push_back(std::move(s));
  }
}

ElfFile::~ElfFile() {
  if (elf_) elf_end(elf_);
  if (fd_ >= 0) ::close(fd_);
}

const Section* ElfFile::section(std::string_view name) const {
  for (const Section& s : sections_)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<uint8_t> ElfFile::data(const Section& s) const {
  std::vector<uint8_t> out;
  if (s.type == SHT_NOBITS) return out;
  Elf_Scn* scn = elf_getscn(elf_, s.index);
  Elf_Data* d = scn ? elf_rawdata(scn, nullptr) : nullptr;
  if (d && d->d_buf) {
    const auto* p = static_cast<const uint8_t*>(d->d_buf);
    out.assign(p, p + d->d_size);
  }
  return out;
}

static std::vector<Symbol> read_symbols(Elf* elf, const Section& s) {
  std::vector<Symbol> out;
  Elf_Scn* scn = elf_getscn(elf, s.index);
  GElf_Shdr sh;
  Elf_Data* d = scn ? elf_getdata(scn, nullptr) : nullptr;
  if (!d || !gelf_getshdr(scn, &sh) || sh.sh_entsize == 0) return out;
  size_t n = sh.sh_size / sh.sh_entsize;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    GElf_Sym sym;
    if (!gelf_getsym(d, static_cast<int>(i), &sym)) continue;
    const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
    out.push_back(Symbol{name ? name : "", sym.st_value, sym.st_size,
                         static_cast<uint8_t>(GELF_ST_TYPE(sym.st_info)),
                         static_cast<uint8_t>(GELF_ST_BIND(sym.st_info)), sym.st_shndx});
  }
  return out;
}

std::vector<Symbol> ElfFile::symbols() const {
  const Section* s = section(".symtab");
  if (!s) s = section(".dynsym");
  return s ? read_symbols(elf_, *s) : std::vector<Symbol>{};
}

std::vector<GotSlot> ElfFile::got_slots() const {
  std::vector<GotSlot> out;
  for (const Section& s : sections_) {
    if (s.type != SHT_RELA) continue;
    Elf_Scn* scn = elf_getscn(elf_, s.index);
    GElf_Shdr sh;
    Elf_Data* d = scn ? elf_getdata(scn, nullptr) : nullptr;
    if (!d || !gelf_getshdr(scn, &sh) || sh.sh_entsize == 0 || sh.sh_link == 0) continue;
    Elf_Scn* symscn = elf_getscn(elf_, sh.sh_link);
    GElf_Shdr symsh;
    Elf_Data* symd = symscn ? elf_getdata(symscn, nullptr) : nullptr;
    if (!symd || !gelf_getshdr(symscn, &symsh)) continue;
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < n; ++i) {
      GElf_Rela r;
      if (!gelf_getrela(d, static_cast<int>(i), &r)) continue;
      auto type = GELF_R_TYPE(r.r_info);
      if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
      GElf_Sym sym;
      if (!gelf_getsym(symd, static_cast<int>(GELF_R_SYM(r.r_info)), &sym)) continue;
      const char* name = elf_strptr(elf_, symsh.sh_link, sym.st_name);
      if (name && *name) out.push_back(GotSlot{r.r_offset, name});
    }
  }
  return out;
}

std::string find_debug_file(const std::string& build_id, const std::vector<std::string>& roots) {
  if (build_id.size() < 4) return "";
  for (const std::string& root : roots) {
    std::string p = root + "/.build-id/" + build_id.substr(0, 2) + "/" + build_id.substr(2) + ".debug";
    if (::access(p.c_str(), R_OK) == 0) return p;
  }
  return "";
}

}  // namespace ttst::dwarfmeta
