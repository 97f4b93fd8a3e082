// ttst_sections.h — parse the sections a ttst-cc program carries (layout in
// stfw/abi/ttst_abi.h): annotation records (.ttst.annot) and update points
// (.ttst.upoints).
#ifndef DWARFMETA_TTST_SECTIONS_H
#define DWARFMETA_TTST_SECTIONS_H

#include <cstdint>
#include <vector>

#include "dwarfmeta/model.h"

namespace ttst::dwarfmeta {

// Throws Error{BadImage} on a malformed record (bad tag, version, kind, missing NUL).
std::vector<Annotation> parse_annotations(const std::vector<uint8_t>& section);
// Addresses only; load() fills UpdatePoint::function.
std::vector<UpdatePoint> parse_update_points(const std::vector<uint8_t>& section);

}  // namespace ttst::dwarfmeta

#endif
