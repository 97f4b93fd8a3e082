// libraries.cc — see libraries.h.
#include "stfw/xfer/libraries.h"

#include "stfw/xfer/elf_image.h"
#include "stfw/xfer/proc_maps.h"

extern "C" {
#include "inject/agent/alloc.h"
}

namespace ttst::stfw {
namespace {

struct Lib {
  uint64_t dev, inode, start, end;
  const char* path;
  uint64_t path_len;
  bool last_writable;  // its last mapping so far is writable (.data: .bss may follow)
};

// The libraries of one process, in maps order; the executable's file excluded.
int64_t libraries_of(int pid, uint64_t exe_addr, Lib** out, uint64_t* exe_start) {
  long error = 0;
  const char* text = read_maps(pid, &error);
  if (!text) return -error;
  uint64_t cap = 256;
  Lib* libs = static_cast<Lib*>(agent_alloc(sizeof(Lib) * cap, 16));
  if (!libs) return -kENOMEM;
  int64_t n = 0;
  Lib* prev = nullptr;  // the library of the previous line, if any
  uint64_t exe_dev = 0, exe_inode = 0;
  MapsLine m;
  for (const char* p = text; next_maps_line(p, &m);) {
    if (m.inode == 0) {
      if (m.path_len == 0 && prev && prev->last_writable && prev->end == m.lo) prev->end = m.hi;  // its .bss
      prev = nullptr;
      continue;
    }
    if (exe_addr >= m.lo && exe_addr < m.hi) exe_dev = m.dev, exe_inode = m.inode;
    Lib* lib = nullptr;
    for (int64_t i = 0; i < n && !lib; ++i)
      if (libs[i].dev == m.dev && libs[i].inode == m.inode) lib = &libs[i];
    if (!lib) {
      if (uint64_t(n) == cap) {
        prev = nullptr;
        continue;  // more than 256 libraries: the rest stay unmapped (refused)
      }
      lib = &libs[n++];
      *lib = Lib{m.dev, m.inode, m.lo, m.hi, m.path, m.path_len, false};
    }
    if (m.lo < lib->start) lib->start = m.lo;
    if (m.hi > lib->end) lib->end = m.hi;
    lib->last_writable = m.writable;
    prev = lib;
  }
  // Drop the executable (its objects are the state itself).
  int64_t k = 0;
  *exe_start = 0;
  for (int64_t i = 0; i < n; ++i)
    if (!(libs[i].dev == exe_dev && libs[i].inode == exe_inode)) libs[k++] = libs[i];
    else *exe_start = libs[i].start;
  *out = libs;
  return k;
}

// The extent of a library's image from its own ELF program headers (this process's
// mapping of it, starting with the ELF header): the end of its last PT_LOAD
// segment, .bss included. 0 when the header does not look right.
uint64_t image_extent(uint64_t start) {
  const uint8_t* h = reinterpret_cast<const uint8_t*>(start);
  if (h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F' || h[4] != 2) return 0;
  uint64_t phoff = 0;
  uint16_t phentsize = 0, phnum = 0;
  __builtin_memcpy(&phoff, h + 32, 8);
  __builtin_memcpy(&phentsize, h + 54, 2);
  __builtin_memcpy(&phnum, h + 56, 2);
  if (phentsize < 56 || phoff + uint64_t(phnum) * phentsize > 4096) return 0;
  uint64_t lo = ~0ull, hi = 0;
  for (uint16_t i = 0; i < phnum; ++i) {
    const uint8_t* ph = h + phoff + uint64_t(i) * phentsize;
    uint32_t type = 0;
    uint64_t vaddr = 0, memsz = 0;
    __builtin_memcpy(&type, ph, 4);
    __builtin_memcpy(&vaddr, ph + 16, 8);
    __builtin_memcpy(&memsz, ph + 40, 8);
    if (type != 1) continue;  // PT_LOAD
    if ((vaddr & ~4095ull) < lo) lo = vaddr & ~4095ull;
    if (vaddr + memsz > hi) hi = vaddr + memsz;
  }
  return hi > lo ? ((hi - lo + 4095) & ~4095ull) : 0;
}

// The same path, ignoring the " (deleted)" the kernel appends to a replaced file.
bool same_path(const Lib& a, const Lib& b) {
  auto len = [](const Lib& l) {
    const char* d = " (deleted)";
    uint64_t n = l.path_len;
    if (n >= 10) {
      bool del = true;
      for (uint64_t k = 0; k < 10 && del; ++k) del = l.path[n - 10 + k] == d[k];
      if (del) n -= 10;
    }
    return n;
  };
  uint64_t n = len(a);
  if (n == 0 || n != len(b)) return false;
  for (uint64_t k = 0; k < n; ++k)
    if (a.path[k] != b.path[k]) return false;
  return true;
}

}  // namespace

int64_t map_libraries(int peer, uint64_t peer_exe_addr, uint64_t self_exe_addr, const LibRange** out,
                      uint64_t* peer_exe_start, uint64_t* self_exe_start) {
  Lib *theirs = nullptr, *ours = nullptr;
  int64_t their_count = libraries_of(peer, peer_exe_addr, &theirs, peer_exe_start);
  if (their_count < 0) return their_count;
  int64_t our_count = libraries_of(0, self_exe_addr, &ours, self_exe_start);
  if (our_count < 0) return our_count;
  LibRange* ranges = static_cast<LibRange*>(agent_alloc(sizeof(LibRange) * uint64_t(their_count + 1), 16));
  if (!ranges) return -kENOMEM;
  for (int64_t i = 0; i < their_count; ++i) {
    const Lib& their = theirs[i];
    char* path = static_cast<char*>(agent_alloc(their.path_len + 1, 1));
    if (!path) return -kENOMEM;
    for (uint64_t c = 0; c < their.path_len; ++c) path[c] = their.path[c];
    path[their.path_len] = 0;
    ranges[i] = LibRange{their.start, their.end, 0, path};
    // The same file here: its exact extent from its program headers (the anonymous
    // mapping after it may be more than its .bss: the kernel merges neighbours).
    for (int64_t j = 0; j < our_count; ++j)
      if (ours[j].dev == their.dev && ours[j].inode == their.inode)
        if (uint64_t extent = image_extent(ours[j].start))
          ranges[i].src_end = their.start + extent, ranges[i].dst_start = ours[j].start;
    // Otherwise a different file at the same path (upgraded on disk): by symbol.
    for (int64_t j = 0; j < our_count && !ranges[i].dst_start && !ranges[i].twin_start; ++j)
      if (same_path(ours[j], their)) ranges[i].twin_start = ours[j].start;
  }
  *out = ranges;
  return their_count;
}

uint64_t LibrarySymbols::translate(const LibRange* lib_or_exe, uint64_t v, char* symbol, uint64_t cap) {
  if (!exes_opened_) {
    exes_opened_ = true;
    exes_ok_ = peer_exe_start_ && self_exe_start_ && their_exe_.open(peer_, peer_exe_start_) &&
               our_exe_.open(0, self_exe_start_);
  }
  auto name_out = [&](const char* name) {
    uint64_t k = 0;
    for (; cap && k + 1 < cap && name[k]; ++k) symbol[k] = name[k];
    if (cap) symbol[k] = 0;
  };
  if (!lib_or_exe) {  // in the executable but no object of the state: a copy-relocated variable?
    uint64_t start = 0, here = 0;
    const char* name = exes_ok_ ? their_exe_.copy_holding(v, &start) : nullptr;
    if (!name) return 0;
    name_out(name);
    return our_exe_.copy_named(name, &here) ? here + (v - start) : 0;
  }
  const LibRange& lib = *lib_or_exe;
  // Exactly a value the loader bound for one of the program's imports (this covers
  // IFUNC-selected implementations, which no exported symbol describes).
  if (const char* name = exes_ok_ ? their_exe_.import_with_value(v) : nullptr) {
    name_out(name);
    uint64_t here = 0;
    if (our_exe_.import_value(name, &here) && here) return here;
  }
  LibraryPair* p = nullptr;
  for (uint32_t i = 0; i < pair_count_ && !p; ++i)
    if (pairs_[i].src_start == lib.src_start) p = &pairs_[i];
  if (!p) {
    if (pair_count_ == sizeof pairs_ / sizeof pairs_[0]) return 0;
    p = &pairs_[pair_count_++];
    p->src_start = lib.src_start;
    p->ok = p->theirs.open(peer_, lib.src_start) && p->ours.open(0, lib.twin_start);
  }
  uint64_t start = 0, size = 0, here = 0, here_size = 0;
  if (!p->ok || !p->theirs.symbol_at(v, symbol, cap, &start, &size)) return 0;
  if (!p->ours.symbol_named(symbol, &here, &here_size)) return 0;
  uint64_t off = v - start;
  if (off > here_size || (off == here_size && off != 0 && size == 0)) return 0;  // the object shrank past it
  return here + off;
}

}  // namespace ttst::stfw
