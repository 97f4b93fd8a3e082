// cache.h — metadata images cached by build-id, so a second load of the same
// binary costs a file map and a checksum instead of a DWARF walk.
//
// Location: $XDG_CACHE_HOME/ttst/meta, else $HOME/.cache/ttst/meta, one file per
// binary: <build-id>.v<image version>.e<extractor version>.img, written atomically
// (temp + rename).
// Binaries without a build-id are never cached.
#ifndef DWARFMETA_CACHE_H
#define DWARFMETA_CACHE_H

#include <cstdint>
#include <string>

#include "dwarfmeta/image.h"
#include "dwarfmeta/load.h"

namespace ttst::dwarfmeta {

// Bumped whenever extraction (load.cc and what it calls) changes what it produces,
// so cached images made by older code are not reused.
inline constexpr int kExtractorVersion = 15;  // 10: locals at fixed frame places; 11: their types, site hints from them; 12: frame places (locations, location lists); 13: site IDs per source function across GCC fragments; 14: composite (DW_OP_piece) locals as pieces; 15: pieces in stack slots, piece offsets

std::string default_cache_dir();

// A read-only mapping of a metadata image file, validated. Movable, RAII.
class MappedImage {
 public:
  MappedImage() = default;
  // Throws Error{Unreadable, BadImage}.
  explicit MappedImage(const std::string& file);
  ~MappedImage();
  MappedImage(MappedImage&& o) noexcept;
  MappedImage& operator=(MappedImage&& o) noexcept;
  MappedImage(const MappedImage&) = delete;
  MappedImage& operator=(const MappedImage&) = delete;

  const image::View& view() const { return view_; }
  const uint8_t* data() const { return static_cast<const uint8_t*>(addr_); }
  uint64_t size() const { return size_; }
  const std::string& file() const { return file_; }

 private:
  void* addr_ = nullptr;
  uint64_t size_ = 0;
  image::View view_;
  std::string file_;
};

struct CacheStats {
  bool hit = false;       // the image came from the cache
  std::string file;       // the cache file ("" when the binary has no build-id)
};

// The image of `path`, from the cache or built (load + write_image) and stored.
MappedImage cached_image(const std::string& path, const LoadOptions& options = {}, std::string cache_dir = "",
                         CacheStats* stats = nullptr);
// dwarfmeta::load through the cache.
Program load_cached(const std::string& path, const LoadOptions& options = {}, std::string cache_dir = "",
                    CacheStats* stats = nullptr);

}  // namespace ttst::dwarfmeta

#endif
