// error.h — the typed errors dwarfmeta raises for input it cannot use.
//
// Each carries a one-line message a sysadmin can act on (what happened, what to
// do). ttst-meta exits 2 on any of them; callers may switch on `kind`.
#ifndef DWARFMETA_ERROR_H
#define DWARFMETA_ERROR_H

#include <stdexcept>
#include <string>

namespace ttst::dwarfmeta {

enum class ErrorKind {
  Unreadable,   // cannot open/read the file
  NotElf,       // not an ELF file
  NotX86_64,    // ELF for another machine or class
  NoDwarf,      // no .debug_info here nor in separate debug info
  BadDwarf,     // DWARF present but libdwarf failed on it
  BadImage,     // a metadata image failed its checks
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace ttst::dwarfmeta

#endif
