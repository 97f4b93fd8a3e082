// executable.h — one executable (v1 or v2) as an update sees it, read once per
// update in the plan phase and used by every later phase: the plan (dwarfmeta's
// Program), quiescence (the update-point map), the agents (the metadata image
// bytes) and the naming of differences (the Program again). TRUSTED.
//
// Two readers look at the file, each for what it alone is trusted with: dwarfmeta
// (through its build-id cache) for the state metadata, and the small trusted
// update-point reader (quiesce/upoint_map.h) for update points, symbols and function
// instance ranges. The runtime block's link-time address has one source: the ELF
// symbol table as the update-point reader reads it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dwarfmeta/cache.h"
#include "dwarfmeta/model.h"
#include "inject/remote_addr.h"
#include "supervisor/quiesce/upoint_map.h"

namespace ttst::supervisor {

class Executable {
 public:
  // Reads `path` (for P: /proc/PID/exe, which works after the file was replaced).
  // `who` names it in messages ("the running program"). Throws Refusal (refusal.h)
  // when the file is not an x86-64 ELF with DWARF and a symbol table. A stripped
  // file's DWARF and symbols come from its separate debug info, looked for under
  // `debug_dirs` by build id and by .gnu_debuglink (dwarfmeta/debug_lookup.h).
  static Executable load(const std::string& path, const std::string& who,
                         const std::vector<std::string>& debug_dirs = {"/usr/lib/debug"});

  const std::string& path() const { return path_; }
  const std::string& build_id() const { return program_.build_id; }
  const dwarfmeta::Program& program() const { return program_; }
  const quiesce::UpdatePointMap& update_points() const { return update_points_; }
  // dwarfmeta's metadata image of this executable (what the agent reads), valid as
  // long as this object lives.
  std::span<const uint8_t> metadata_image() const { return {image_.data(), image_.size()}; }

  // __ttst_runtime, the runtime block (null: not built with ttst-cc).
  inject::LinkAddr runtime_block() const { return update_points_.runtime_symbol(); }
  bool built_with_ttst() const { return !runtime_block().is_null(); }

  // Where this executable is mapped in `pid` (0 for a non-PIE). Throws
  // std::runtime_error when `pid` does not map it.
  inject::LoadBias bias_in(pid_t pid) const;

 private:
  std::string path_;
  dwarfmeta::MappedImage image_;
  dwarfmeta::Program program_;
  quiesce::UpdatePointMap update_points_;
};

}  // namespace ttst::supervisor
