// executable.cc — see executable.h.
#include "supervisor/executable.h"

#include "dwarfmeta/debug_lookup.h"
#include "dwarfmeta/elf_file.h"

#include "dwarfmeta/error.h"
#include "dwarfmeta/image_writer.h"
#include "supervisor/quiesce/quiesce.h"
#include "supervisor/refusal.h"

namespace ttst::supervisor {
namespace {

// dwarfmeta's reasons to reject a file, as a refusal with what to do about it.
Refusal refusal_of(const dwarfmeta::Error& e, const std::string& path, const std::string& who) {
  std::string advice;
  switch (e.kind()) {
    case dwarfmeta::ErrorKind::NotElf:
    case dwarfmeta::ErrorKind::NotX86_64:
      advice = "give an x86-64 ELF executable built with ttst-cc";
      break;
    case dwarfmeta::ErrorKind::NoDwarf:
      advice = "rebuild " + who + " with ttst-cc (it keeps -g), or install its debug info";
      break;
    default:
      advice = "check the file " + path;
  }
  return Refusal(who + " (" + path + "): " + e.what(), advice);
}

}  // namespace

Executable Executable::load(const std::string& path, const std::string& who,
                            const std::vector<std::string>& debug_dirs) {
  Executable x;
  x.path_ = path;
  std::string symbols = path;  // the file with the DWARF and symbols: a stripped one's debug file
  try {
    dwarfmeta::LoadOptions options;
    options.debug_roots = debug_dirs;
    const dwarfmeta::ElfFile elf(path);
    const dwarfmeta::DebugLookup debug = dwarfmeta::find_debug_info(elf, path, debug_dirs);
    if (!debug.path.empty()) symbols = debug.path;
    if (debug.path.empty() && !debug.looked.empty())  // stripped, its debug info nowhere
      throw Refusal(who + " (" + path + ") has no DWARF (stripped), and no separate debug info was found: looked for " +
                        debug.where_looked(),
                    "install " + who + "'s debug info (its -dbgsym package), name its root with --debug-dir, or "
                    "rebuild it with ttst-cc without stripping it");
    x.image_ = dwarfmeta::cached_image(path, options);
    x.program_ = dwarfmeta::read_image(x.image_.view());
    x.program_.path = path;
  } catch (const dwarfmeta::Error& e) {
    throw refusal_of(e, path, who);
  }
  try {
    // Update points, symbols and function ranges: from the debug file of a stripped
    // executable (objcopy --only-keep-debug keeps them, and its program headers).
    x.update_points_ = quiesce::UpdatePointMap::load(symbols);
  } catch (const std::runtime_error& e) {  // the reader's one-line reason (no symbol table...)
    throw Refusal(who + " (" + path + "): " + e.what(), "rebuild " + who + " with ttst-cc and do not strip it");
  }
  return x;
}

inject::LoadBias Executable::bias_in(pid_t pid) const { return quiesce::load_bias(pid, update_points_); }

}  // namespace ttst::supervisor
