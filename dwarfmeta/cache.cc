// cache.cc — build-id keyed image cache and read-only image mappings.
#include "dwarfmeta/cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "dwarfmeta/elf_file.h"
#include "dwarfmeta/error.h"
#include "dwarfmeta/image_writer.h"
#include "inject/sys/atomic_file.h"

namespace ttst::dwarfmeta {

std::string default_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/ttst/meta";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/ttst/meta";
  return "/tmp/ttst-meta-cache";
}

MappedImage::MappedImage(const std::string& file) : file_(file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorKind::Unreadable, "cannot read " + file + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    throw Error(ErrorKind::BadImage, file + " is an empty metadata image: delete it and run again");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  addr_ = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (addr_ == MAP_FAILED) {
    addr_ = nullptr;
    throw Error(ErrorKind::Unreadable, "cannot map " + file + ": " + std::strerror(errno));
  }
  const char* why = nullptr;
  if (!image::View::open(addr_, size_, &view_, &why)) {
    munmap(addr_, size_);
    addr_ = nullptr;
    throw Error(ErrorKind::BadImage, file + ": " + why + ": delete it and run again");
  }
}

MappedImage::~MappedImage() {
  if (addr_) munmap(addr_, size_);
}

MappedImage::MappedImage(MappedImage&& o) noexcept { *this = std::move(o); }

MappedImage& MappedImage::operator=(MappedImage&& o) noexcept {
  if (this != &o) {
    if (addr_) munmap(addr_, size_);
    addr_ = o.addr_, size_ = o.size_, view_ = o.view_, file_ = std::move(o.file_);
    o.addr_ = nullptr, o.size_ = 0, o.view_ = image::View();
  }
  return *this;
}

namespace {

// Writes `bytes` to `file` atomically; a failure only costs the cache.
bool store(const std::string& file, const std::vector<uint8_t>& bytes) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(file).parent_path(), ec);
  try {
    sys::write_file_atomically(file, bytes);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

std::string cache_file(const std::string& path, std::string dir) {
  ElfFile elf(path);  // the ELF checks and the build-id: no DWARF read
  if (elf.build_id().empty()) return "";
  if (dir.empty()) dir = default_cache_dir();
  return dir + "/" + elf.build_id() + ".v" + std::to_string(image::kVersion) + ".e" +
         std::to_string(kExtractorVersion) + ".img";
}

}  // namespace

MappedImage cached_image(const std::string& path, const LoadOptions& options, std::string cache_dir,
                         CacheStats* stats) {
  std::string file = cache_file(path, cache_dir);
  if (stats) stats->file = file, stats->hit = false;
  if (!file.empty() && ::access(file.c_str(), R_OK) == 0) {
    try {
      MappedImage m(file);
      if (stats) stats->hit = true;
      return m;
    } catch (const Error&) {
      ::unlink(file.c_str());  // corrupt or stale: rebuild below
    }
  }
  std::vector<uint8_t> bytes = write_image(load(path, options));
  if (!file.empty() && store(file, bytes)) return MappedImage(file);
  // No cache available: serve the image from an anonymous temporary file.
  char tmpl[] = "/tmp/ttst-meta-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) throw Error(ErrorKind::Unreadable, std::string("cannot create a temporary file: ") + std::strerror(errno));
  ::close(fd);
  if (!store(tmpl, bytes)) throw Error(ErrorKind::Unreadable, std::string("cannot write ") + tmpl);
  MappedImage m(tmpl);
  ::unlink(tmpl);
  return m;
}

Program load_cached(const std::string& path, const LoadOptions& options, std::string cache_dir, CacheStats* stats) {
  MappedImage m = cached_image(path, options, cache_dir, stats);
  Program p = read_image(m.view());
  p.path = path;
  return p;
}

}  // namespace ttst::dwarfmeta
