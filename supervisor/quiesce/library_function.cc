// library_function.cc — see library_function.h.
#include "supervisor/quiesce/library_function.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace ttst::quiesce {
namespace {

struct Segment {
  uint64_t offset, filesz, vaddr;
};

// The defined function `name` of the .dynsym of `elf` ([lo, hi) link-time) and
// the file's PT_LOAD segments. False when it does not define it.
bool dynamic_function(Elf* elf, const std::string& name, uint64_t& lo, uint64_t& hi, std::vector<Segment>& segs) {
  size_t nph = 0;
  if (elf_getphdrnum(elf, &nph) != 0) return false;
  for (size_t i = 0; i < nph; i++) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD)
      segs.push_back({ph.p_offset, ph.p_filesz, ph.p_vaddr});
  }
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || sh.sh_entsize == 0) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) continue;
    for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
      GElf_Sym s;
      if (!gelf_getsym(data, static_cast<int>(i), &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
          s.st_shndx == SHN_UNDEF || s.st_size == 0)
        continue;
      const char* sn = elf_strptr(elf, sh.sh_link, s.st_name);
      if (sn && name == sn) {
        lo = s.st_value;
        hi = s.st_value + s.st_size;
        return true;
      }
    }
  }
  return false;
}

// The run-time address of link address `v` of the file mapped as `file` in `maps`.
bool runtime_of(const std::vector<sys::Mapping>& maps, const std::string& file, const std::vector<Segment>& segs,
                uint64_t v, uint64_t& out) {
  for (const Segment& s : segs) {
    if (v < s.vaddr || v >= s.vaddr + s.filesz) continue;
    const uint64_t off = s.offset + (v - s.vaddr);
    for (const sys::Mapping& m : maps)
      if (m.path == file && off >= m.offset && off < m.offset + m.size()) return (out = m.start + (off - m.offset)), true;
  }
  return false;
}

}  // namespace

int open_mapped_file(pid_t pid, const sys::Mapping& m) {
  char key[128];
  snprintf(key, sizeof key, "/proc/%d/map_files/%llx-%llx", static_cast<int>(pid),
           static_cast<unsigned long long>(m.start), static_cast<unsigned long long>(m.end));
  int fd = open(key, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) return fd;
  fd = open(m.path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  unsigned major = 0, minor = 0;
  if (fd >= 0 && fstat(fd, &st) == 0 && sscanf(m.dev.c_str(), "%x:%x", &major, &minor) == 2 &&
      st.st_ino == m.inode && ::major(st.st_dev) == major && ::minor(st.st_dev) == minor)
    return fd;
  if (fd >= 0) close(fd);
  return -1;
}

bool is_libc(const std::string& path) {
  const std::string base = path.substr(path.rfind('/') + 1);
  return base.rfind("libc.so", 0) == 0 || base.rfind("libc-", 0) == 0;
}

bool find_library_function(pid_t pid, const std::vector<sys::Mapping>& maps, const std::string& exe,
                           const std::string& name, LibraryFunction& out, std::string& why) {
  if (elf_version(EV_CURRENT) == EV_NONE) return (why = "libelf version mismatch"), false;
  std::vector<std::string> seen, defining;
  for (const sys::Mapping& m : maps) {
    if (!m.executable() || m.path.empty() || m.path[0] != '/' || m.path == exe) continue;
    bool done = false;
    for (const auto& s : seen) done = done || s == m.path;
    if (done) continue;
    seen.push_back(m.path);
    const int fd = open_mapped_file(pid, m);
    if (fd < 0) return (why = "cannot open the mapped library " + m.path), false;
    Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
    uint64_t lo = 0, hi = 0;
    std::vector<Segment> segs;
    const bool has = elf && elf_kind(elf) == ELF_K_ELF && dynamic_function(elf, name, lo, hi, segs);
    if (elf) elf_end(elf);
    close(fd);
    if (!has) continue;
    defining.push_back(m.path);
    uint64_t rlo = 0, rlast = 0;
    if (!runtime_of(maps, m.path, segs, lo, rlo) || !runtime_of(maps, m.path, segs, hi - 1, rlast))
      return (why = name + " in " + m.path + " is not mapped"), false;
    out = {m.path, rlo, rlast + 1};
  }
  if (defining.size() == 1) return true;
  why = defining.empty() ? name + " is exported by no mapped library"
                         : name + " is exported by several mapped libraries (" + defining[0] + ", " + defining[1] + ")";
  return false;
}

}  // namespace ttst::quiesce
