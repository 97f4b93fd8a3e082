// elf_file.h — one opened ELF file (libelf), checked to be x86-64, with the few
// things dwarfmeta needs from it: sections, symbols, build-id, dynamic relocations.
// RAII: the file descriptor and the Elf handle close with the object.
#ifndef DWARFMETA_ELF_FILE_H
#define DWARFMETA_ELF_FILE_H

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct Elf;

namespace ttst::dwarfmeta {

struct Section {
  std::string name;
  uint32_t type = 0;
  uint64_t flags = 0;
  uint64_t addr = 0;
  uint64_t size = 0;
  size_t index = 0;
};

struct Symbol {
  std::string name;
  uint64_t value = 0;
  uint64_t size = 0;
  uint8_t type = 0;   // STT_*
  uint8_t bind = 0;   // STB_*
  uint16_t shndx = 0;
};

// A dynamic relocation naming a symbol: GOT slot address -> symbol name.
struct GotSlot {
  uint64_t addr = 0;
  std::string symbol;
};

class ElfFile {
 public:
  // Throws Error{Unreadable, NotElf, NotX86_64}.
  explicit ElfFile(const std::string& path);
  ~ElfFile();
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  bool pie() const { return pie_; }
  const std::string& build_id() const { return build_id_; }
  const std::vector<Section>& sections() const { return sections_; }
  const Section* section(std::string_view name) const;
  bool has_dwarf() const { return section(".debug_info") != nullptr; }
  // The bytes of a section (empty for SHT_NOBITS).
  std::vector<uint8_t> data(const Section& s) const;
  // .symtab if present, else .dynsym.
  std::vector<Symbol> symbols() const;
  // JUMP_SLOT and GLOB_DAT relocations (.rela.plt, .rela.dyn) with their symbols.
  std::vector<GotSlot> got_slots() const;
  // The PT_GNU_RELRO segment [start, end) (link-time): writable in the file, made
  // read-only by the dynamic loader after relocation. {0, 0} when there is none.
  std::pair<uint64_t, uint64_t> relro() const { return relro_; }

 private:
  std::string path_;
  int fd_ = -1;
  Elf* elf_ = nullptr;
  bool pie_ = false;
  std::string build_id_;
  std::vector<Section> sections_;
  std::pair<uint64_t, uint64_t> relro_{0, 0};
};

// The separate debug file for `build_id` under one of `roots`
// (ROOT/.build-id/ab/cdef....debug), or "" when there is none.
std::string find_debug_file(const std::string& build_id, const std::vector<std::string>& roots);

}  // namespace ttst::dwarfmeta

#endif
