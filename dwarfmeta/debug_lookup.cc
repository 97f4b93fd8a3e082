// debug_lookup.cc — see debug_lookup.h.
#include "dwarfmeta/debug_lookup.h"

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "dwarfmeta/elf_file.h"

namespace ttst::dwarfmeta {
namespace {

uint32_t crc32_update(uint32_t crc, const unsigned char* p, size_t n) {
  static uint32_t table[256];
  static bool ready = false;
  if (!ready) {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    ready = true;
  }
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

bool has_dwarf(const std::string& path) {
  try {
    return ElfFile(path).has_dwarf();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

std::string DebugLookup::where_looked() const {
  std::string out;
  for (size_t i = 0; i < looked.size(); ++i)
    out += (i == 0 ? "" : i + 1 == looked.size() ? " and " : ", ") + looked[i];
  return out;
}

bool file_crc32(const std::string& path, uint32_t& crc) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  crc = 0;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0)
    crc = crc32_update(crc, reinterpret_cast<const unsigned char*>(buf), static_cast<size_t>(in.gcount()));
  return true;
}

DebugLink debuglink_of(const ElfFile& exe) {
  DebugLink link;
  const Section* s = exe.section(".gnu_debuglink");
  if (!s) return link;
  const std::vector<uint8_t> d = exe.data(*s);
  const size_t len = strnlen(reinterpret_cast<const char*>(d.data()), d.size());
  const size_t crc_at = (len + 4) & ~size_t{3};  // the name, its NUL, padding to 4, the CRC
  if (len == 0 || crc_at + 4 > d.size()) return link;
  link.name.assign(reinterpret_cast<const char*>(d.data()), len);
  std::memcpy(&link.crc, d.data() + crc_at, 4);
  return link;
}

DebugLookup find_debug_info(const ElfFile& exe, const std::string& exe_path, const std::vector<std::string>& roots) {
  DebugLookup out;
  if (exe.has_dwarf()) {
    out.path = exe_path;
    return out;
  }
  const std::string id = exe.build_id();
  if (id.size() >= 4)
    for (const std::string& root : roots) {
      const std::string p = root + "/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug";
      out.looked.push_back(p);
      if (::access(p.c_str(), R_OK) == 0 && has_dwarf(p)) return out.path = p, out;
    }
  const DebugLink link = debuglink_of(exe);
  if (link.name.empty()) return out;
  std::error_code ec;
  std::filesystem::path real = std::filesystem::read_symlink(exe_path, ec);  // /proc/PID/exe
  if (ec) real = exe_path;
  else if (real.is_relative()) real = std::filesystem::path(exe_path).parent_path() / real;
  std::string dir = std::filesystem::absolute(real, ec).parent_path().string();
  std::vector<std::string> candidates = {dir + "/" + link.name, dir + "/.debug/" + link.name};
  for (const std::string& root : roots) candidates.push_back(root + dir + "/" + link.name);
  for (const std::string& p : candidates) {
    out.looked.push_back(p);
    uint32_t crc = 0;
    if (p != real.string() && file_crc32(p, crc) && crc == link.crc && has_dwarf(p)) return out.path = p, out;
  }
  return out;
}

}  // namespace ttst::dwarfmeta
