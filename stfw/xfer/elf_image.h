// elf_image.h — a loaded ELF image (a shared library as mapped in some process)
// read through its program headers and dynamic symbol table (UNTRUSTED, runs inside
// the agent). Used to carry pointers into a library's static data or functions over
// to a *different* build of the same library (upgraded on disk between the past
// version's start and the future version's), by symbol name.
#ifndef TTST_STFW_XFER_ELF_IMAGE_H
#define TTST_STFW_XFER_ELF_IMAGE_H

#include <stdint.h>

namespace ttst::stfw {

class ElfImage {
 public:
  // The image mapped at `base` in process `pid` (0: this one; read with
  // process_vm_readv, so a bad address fails instead of faulting; the symbol and
  // string tables are copied into the agent's arena). False unless an ELF64 with a
  // dynamic symbol table.
  bool open(int pid, uint64_t base);
  // Bytes from the first to the end of the last PT_LOAD segment (.bss included).
  uint64_t extent() const { return extent_; }
  // The defined symbol whose [value, value + size) holds `addr` (size 0: exactly at
  // it): its name into `name` (NUL-terminated, truncated to `cap`) and its run-time
  // start. False if none.
  bool symbol_at(uint64_t addr, char* name, uint64_t cap, uint64_t* start, uint64_t* size) const;
  // The run-time start and size of the defined symbol called `name`, or false.
  bool symbol_named(const char* name, uint64_t* start, uint64_t* size) const;

  // What an executable imports (its relocations against named symbols), loaded on
  // first use: GOT slots (GLOB_DAT, JUMP_SLOT, 64) with the value the dynamic
  // loader put there, and copy relocations (a library variable copied into the
  // executable, e.g. stdout, environ). IFUNC-selected functions are found this way
  // too: the slot holds the implementation the loader chose.
  // The symbol whose slot holds exactly `value`, or NULL.
  const char* import_with_value(uint64_t value);
  // The copy-relocated variable holding `addr` (its run-time start in *start), or NULL.
  const char* copy_holding(uint64_t addr, uint64_t* start);
  // The value in the slot of import `name` / the start of copy `name`; false if none.
  bool import_value(const char* name, uint64_t* value);
  bool copy_named(const char* name, uint64_t* start);

 private:
  bool read(uint64_t addr, void* buf, uint64_t len) const;
  bool count_symbols(uint64_t hash, uint64_t gnu_hash);
  bool load_imports();
  struct Import {
    uint32_t type, name;  // relocation type; string table offset
    uint64_t addr, size;  // run-time slot / copy address; copy size
    uint64_t value;       // slots: what the loader wrote
  };
  Import* imports_ = nullptr;
  uint64_t import_count_ = 0, rela_ = 0, relasz_ = 0, jmprel_ = 0, pltrelsz_ = 0;
  bool imports_loaded_ = false;
  // Entry i of the dynamic symbol table: name (string table offset), value, size;
  // false unless defined, named and not an IFUNC.
  bool symbol(uint64_t i, uint32_t* name, uint64_t* value, uint64_t* size) const;
  int pid_ = 0;
  uint64_t base_ = 0, extent_ = 0, symtab_ = 0, strtab_ = 0, symbol_count_ = 0, strtab_size_ = 0;
  uint8_t* symbols_ = nullptr;  // symbol_count_ Elf64_Sym, copied
  char* strings_ = nullptr;     // the string table, copied
};

}  // namespace ttst::stfw

#endif
