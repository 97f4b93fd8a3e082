// upoint_map.h — which functions of an executable hold an update point.
//
// Reads .ttst.upoints (ttst_abi.h §2) and the symbol table of a ttst-built ELF
// with libelf, and answers "which function contains this link-time address, and
// does it hold an update point?" for the quiescence check (a thread blocked in a
// system call whose innermost program frame holds an update point is quiescent).
// dwarfmeta computes the same from DWARF; this is the supervisor's small, trusted
// copy so the check does not depend on the metadata pipeline.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ttst::quiesce {

struct Function {
  std::string name;
  uint64_t lo = 0, hi = 0;  // link-time [lo, hi)
  bool has_upoint = false;
};

class UpdatePointMap {
 public:
  // Throws std::runtime_error with one clear line when `path` is not a readable
  // x86-64 ELF with a symbol table.
  static UpdatePointMap load(const std::string& path);

  const Function* function_at(uint64_t link_addr) const;
  bool in_text(uint64_t link_addr) const { return link_addr >= text_lo_ && link_addr < text_hi_; }
  bool is_pie() const { return pie_; }
  uint64_t first_load_vaddr() const { return first_load_; }  // page-aligned
  uint64_t runtime_symbol() const { return runtime_sym_; }  // 0: not built by ttst-cc
  const std::vector<uint64_t>& upoints() const { return upoints_; }
  const std::vector<Function>& functions() const { return funcs_; }

 private:
  std::vector<Function> funcs_;  // sorted by lo, non-empty FUNC symbols
  std::vector<uint64_t> upoints_;
  uint64_t text_lo_ = 0, text_hi_ = 0;  // executable PT_LOAD range
  uint64_t runtime_sym_ = 0;
  uint64_t first_load_ = UINT64_MAX;
  bool pie_ = false;
};

}  // namespace ttst::quiesce
