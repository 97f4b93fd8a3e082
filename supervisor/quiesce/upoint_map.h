// upoint_map.h — where the update points of an executable are, and which code
// counts as "their" function. TRUSTED.
//
// From the ELF (libelf): .ttst.upoints (ttst_abi.h §2), .ttst.pollers (§7: the
// declared poller paths), the symbol table (names for
// messages, the function around an address) and the load layout.
//
// From DWARF (libdwarf), only the address ranges of function *instances*: each
// out-of-line function (DW_TAG_subprogram) and each inlined copy of one
// (DW_TAG_inlined_subroutine, nested in the function it was inlined into). At -O2 a
// request handler inlined into the event loop shares the loop's ELF symbol; only
// these ranges tell its code from the loop's own (the quiescence rule, quiesce.h).
// An inlined copy of a function marked `artificial` (glibc's _FORTIFY_SOURCE
// wrappers of read/write...) is transparent: its code belongs to its caller.
//
// Why a reader here and not dwarfmeta: the quiescence verdict decides whether P's
// state is taken as it is, and no later check (not even the round-trip diff) would
// catch a mid-request state taken for a quiescent one, so the code behind it must
// stay small and trusted. dwarfmeta is a tool-grade pipeline (types, allocation
// sites, images) without inlined instances; this copy reads those ranges only.
// Fail-safe: if the DWARF is missing, or a range list cannot be read (DWARF 4's
// .debug_ranges is not read), scopes_complete() is false and no address counts as
// part of an update point's function (a blocked thread is then never quiescent).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "inject/remote_addr.h"

namespace ttst::quiesce {

struct Function {
  std::string name;
  uint64_t lo = 0, hi = 0;  // link-time [lo, hi)
  bool has_upoint = false;
};

// One address range of a function instance; ranges of the same instance share `die`.
struct Scope {
  uint64_t lo = 0, hi = 0;  // link-time [lo, hi)
  uint32_t depth = 0;       // 0: out-of-line function; n: inlined n levels deep
  uint64_t die = 0;         // the instance's DIE offset (its identity)
  std::string name;         // the function's name
  uint64_t origin = 0;      // the DIE all instances of that function lead to
                            // (abstract_origin/specification): its identity
};

class UpdatePointMap {
 public:
  // Throws std::runtime_error with one clear line when `path` is not a readable
  // x86-64 ELF with a symbol table.
  static UpdatePointMap load(const std::string& path);

  // The function symbol around `at`, nullptr when none.
  const Function* function_at(inject::LinkAddr at) const;
  bool in_text(inject::LinkAddr at) const { return at.value() >= text_lo_ && at.value() < text_hi_; }
  bool is_pie() const { return pie_; }
  inject::LinkAddr first_load_vaddr() const { return inject::LinkAddr(first_load_); }  // page-aligned
  // __ttst_runtime, the runtime block (null: not built by ttst-cc).
  inject::LinkAddr runtime_symbol() const { return inject::LinkAddr(runtime_sym_); }
  const std::vector<uint64_t>& upoints() const { return upoints_; }
  const std::vector<Function>& functions() const { return funcs_; }

  // The innermost function instance around `at` (nullptr: no DWARF for it).
  const Scope* scope_at(inject::LinkAddr at) const;
  // True when that instance is one whose own code holds an update point.
  bool in_upoint_scope(inject::LinkAddr at) const;
  bool is_upoint_instance(const Scope& s) const;
  // Every function instance around `at`, innermost first (an inlined copy, then
  // the instance it was inlined into, ..., the out-of-line function). Empty when
  // there is none, or when two instances of one depth hold `at` (not a chain).
  std::vector<const Scope*> scope_chain(inject::LinkAddr at) const;
  // The poller paths of .ttst.pollers (ttst_abi.h §7), each f1 ... fn (fn the
  // poller), and the origin of each name (Scope::origin). A malformed record makes
  // `pollers_malformed()` true; a path naming no function with code, or a name two
  // functions share, is dropped and said in `pollers_unresolved()`. Neither is used.
  // A path whose last name is no function of the program but one it imports (an
  // undefined FUNC of its .dynsym: memcached's "event_base_loop" from libevent)
  // is a library path: poller_library_function() holds that name ("" for the
  // program's own paths) and poller_origins() only the program names before it.
  const std::vector<std::vector<std::string>>& poller_paths() const { return poller_paths_; }
  const std::vector<std::vector<uint64_t>>& poller_origins() const { return poller_origins_; }
  const std::vector<std::string>& poller_library_function() const { return poller_library_fn_; }
  bool pollers_malformed() const { return pollers_malformed_; }
  const std::string& pollers_unresolved() const { return pollers_unresolved_; }
  bool scopes_complete() const { return scopes_complete_; }

 private:
  void read_scopes(int fd);
  void read_pollers(const uint8_t* p, size_t n);
  void resolve_pollers();
  std::vector<Function> funcs_;  // sorted by lo, non-empty FUNC symbols
  std::vector<uint64_t> upoints_;
  std::vector<Scope> scopes_;
  std::vector<uint64_t> upoint_dies_;  // instances holding an update point
  std::vector<std::vector<std::string>> poller_paths_;
  std::vector<std::vector<uint64_t>> poller_origins_;
  std::vector<std::string> poller_library_fn_;  // per kept path: "" or the library function
  std::vector<std::string> imports_;            // undefined FUNC symbols of .dynsym
  bool pollers_malformed_ = false;
  std::string pollers_unresolved_;
  bool scopes_complete_ = false;
  uint64_t text_lo_ = 0, text_hi_ = 0;  // executable PT_LOAD range
  uint64_t runtime_sym_ = 0;
  uint64_t first_load_ = UINT64_MAX;
  bool pie_ = false;
};

}  // namespace ttst::quiesce
