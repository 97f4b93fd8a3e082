// atomic_file.cc — see atomic_file.h.
#include "inject/sys/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace ttst::sys {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& file, int err) {
  throw std::runtime_error("cannot " + what + " " + file + ": " + strerror(err));
}

// Unique per process and per call, so concurrent writers never share a temporary.
std::string temporary_beside(const std::string& path) {
  static std::atomic<unsigned> serial{0};
  return path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(serial++);
}

std::string directory_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void write_all(int fd, const char* data, size_t size, const std::string& tmp) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write", tmp, n < 0 ? errno : ENOSPC);
    done += static_cast<size_t>(n);
  }
}

// Makes the rename itself durable. File systems that cannot sync a directory
// say EINVAL; there is nothing more to do on those.
void sync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) fail("sync directory", dir, err);
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view contents) {
  const std::string tmp = temporary_beside(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail("create", tmp, errno);
  try {
    write_all(fd, contents.data(), contents.size(), tmp);
    if (::fsync(fd) != 0) fail("sync", tmp, errno);
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) fail("close", tmp, errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail("replace", path, errno);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  sync_directory(directory_of(path));
}

void write_file_atomically(const std::string& path, std::span<const uint8_t> contents) {
  write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(contents.data()), contents.size()));
}

}  // namespace ttst::sys
