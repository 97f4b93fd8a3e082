// executable.cc — see executable.h.
#include "supervisor/executable.h"

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

Executable Executable::load(const std::string& path, const std::string& who) {
  Executable x;
  x.path_ = path;
  try {
    x.image_ = dwarfmeta::cached_image(path);
    x.program_ = dwarfmeta::read_image(x.image_.view());
    x.program_.path = path;
  } catch (const dwarfmeta::Error& e) {
    throw refusal_of(e, path, who);
  }
  try {
    x.update_points_ = quiesce::UpdatePointMap::load(path);
  } catch (const std::runtime_error& e) {  // the reader's one-line reason (no symbol table...)
    throw Refusal(who + " (" + path + "): " + e.what(), "rebuild " + who + " with ttst-cc and do not strip it");
  }
  return x;
}

inject::LoadBias Executable::bias_in(pid_t pid) const { return quiesce::load_bias(pid, update_points_); }

}  // namespace ttst::supervisor
