// atomic_file.h — replacing a file so that readers, and a crash or power cut at
// any moment, see either the whole old contents or the whole new ones.
// Why: reports, pid files and the metadata cache are read by other processes
// (operators, service managers, the next ttst run) while, or after, we write them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ttst::sys {

// Writes `contents` to a temporary file beside `path` (mode 0644 less the umask),
// fsyncs it, renames it over `path` and fsyncs the directory. Throws
// std::runtime_error naming the file and the errno text; on failure `path` is
// unchanged and no temporary file is left behind. The directory must exist.
void write_file_atomically(const std::string& path, std::string_view contents);
void write_file_atomically(const std::string& path, std::span<const uint8_t> contents);

}  // namespace ttst::sys
