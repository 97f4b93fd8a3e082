// image_writer.h — Program <-> metadata image (layout and reader in image.h).
#ifndef DWARFMETA_IMAGE_WRITER_H
#define DWARFMETA_IMAGE_WRITER_H

#include <cstdint>
#include <vector>

#include "dwarfmeta/image.h"
#include "dwarfmeta/model.h"

namespace ttst::dwarfmeta {

// The image of `prog`: self-contained, checksummed, ready for image::View::open.
std::vector<uint8_t> write_image(const Program& prog);
// Back to a Program (the C++ tools' view); throws Error{BadImage} if invalid.
Program read_image(const image::View& view);
Program read_image(const void* data, uint64_t size);

}  // namespace ttst::dwarfmeta

#endif
