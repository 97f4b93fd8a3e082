// ttst_sections.cc — readers for .ttst.annot and .ttst.upoints.
#include "dwarfmeta/ttst_sections.h"

#include <cstring>
#include <string>

#include "dwarfmeta/error.h"
#include "stfw/abi/ttst_abi.h"

namespace ttst::dwarfmeta {

std::vector<Annotation> parse_annotations(const std::vector<uint8_t>& sec) {
  std::vector<Annotation> out;
  size_t i = 0;
  auto bad = [](const std::string& why) {
    return Error(ErrorKind::BadImage,
                 std::string(TTST_ANNOT_SECTION) + " is malformed (" + why + "): rebuild with the current ttst-cc");
  };
  auto str = [&](std::string& s) {
    const void* nul = std::memchr(sec.data() + i, 0, sec.size() - i);
    if (!nul) throw bad("unterminated string at offset " + std::to_string(i));
    size_t end = static_cast<const uint8_t*>(nul) - sec.data();
    s.assign(reinterpret_cast<const char*>(sec.data() + i), end - i);
    i = end + 1;
  };
  while (i < sec.size()) {
    if (sec[i] == 0) {  // alignment padding the assembler may add between records
      ++i;
      continue;
    }
    if (sec.size() - i < 3) throw bad("truncated record at offset " + std::to_string(i));
    if (sec[i] != TTST_ANNOT_TAG) throw bad("bad tag at offset " + std::to_string(i));
    if (sec[i + 1] != TTST_ABI_VERSION)
      throw bad("ABI version " + std::to_string(sec[i + 1]) + ", expected " + std::to_string(TTST_ABI_VERSION));
    uint8_t kind = sec[i + 2];
    if ((kind < TTST_ANNOT_IXFER || kind > TTST_ANNOT_KEEP_NEW) && kind != TTST_ANNOT_FREE_SLOTS &&
        kind != TTST_ANNOT_TAGGED && kind != TTST_ANNOT_EMBEDDED)
      throw bad("unknown kind " + std::to_string(kind));
    i += 3;
    Annotation a;
    a.kind = static_cast<AnnotKind>(kind);
    str(a.file);
    str(a.target);
    str(a.arg);
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<UpdatePoint> parse_update_points(const std::vector<uint8_t>& sec) {
  std::vector<UpdatePoint> out;
  for (size_t i = 0; i + 8 <= sec.size(); i += 8) {
    uint64_t a;
    std::memcpy(&a, sec.data() + i, 8);
    out.push_back(UpdatePoint{a, ""});
  }
  return out;
}

}  // namespace ttst::dwarfmeta
