// debug_lookup.h — where the DWARF of a stripped executable is, found as gdb finds
// it: the executable's own sections first, then separate debug info
//   1. by build id: ROOT/.build-id/ab/cdef...debug for each debug root
//      (/usr/lib/debug by default: Debian's -dbgsym packages);
//   2. by .gnu_debuglink (a file name and the CRC-32 of that file): next to the
//      executable, in .debug/ beside it, and under each root followed by the
//      executable's directory (ROOT/usr/sbin/name) — a file whose CRC differs is
//      skipped (it belongs to another build).
// A debug file must hold .debug_info to count. Every place looked at is recorded,
// so that a refusal can name them.
#ifndef DWARFMETA_DEBUG_LOOKUP_H
#define DWARFMETA_DEBUG_LOOKUP_H

#include <string>
#include <vector>

namespace ttst::dwarfmeta {

class ElfFile;

struct DebugLookup {
  std::string path;                  // the file holding the DWARF ("" when none was found)
  std::vector<std::string> looked;   // the separate files tried, in order (none when the executable has DWARF)
  std::string where_looked() const;  // "a, b and c", for messages
};

// `exe_path` may be a /proc/PID/exe link: the debuglink directory is the target's.
DebugLookup find_debug_info(const ElfFile& exe, const std::string& exe_path, const std::vector<std::string>& roots);

// The .gnu_debuglink of `exe`: the file name and its CRC-32; name "" when none.
struct DebugLink {
  std::string name;
  uint32_t crc = 0;
};
DebugLink debuglink_of(const ElfFile& exe);

// CRC-32 (the gdb/objcopy .gnu_debuglink checksum) of the file at `path`; false
// when it cannot be read.
bool file_crc32(const std::string& path, uint32_t& crc);

}  // namespace ttst::dwarfmeta

#endif
