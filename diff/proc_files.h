// proc_files.h — read-only access to another process's memory and page table:
// /proc/PID/pagemap entries and bulk memory reads (/proc/PID/mem or
// process_vm_readv; each page the latter refuses, e.g. PROT_NONE, through the former).
// Why: the differ's only two windows into P and R; both are read-only, so the
// differ can never change either process.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ttst::diff {

constexpr uint64_t kPage = 4096;

// An owned file descriptor, closed on destruction.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

// One /proc/PID/pagemap entry (Documentation/admin-guide/mm/pagemap.rst).
struct PageEntry {
  uint64_t raw = 0;
  bool present() const { return raw >> 63 & 1; }
  bool swapped() const { return raw >> 62 & 1; }
  bool file_page() const { return raw >> 61 & 1; }  // page cache (or shared anon) page
  uint64_t pfn() const { return present() ? raw & ((1ull << 55) - 1) : 0; }
};

class Pagemap {
 public:
  explicit Pagemap(pid_t pid);  // never throws: ok() says whether it opened
  bool ok() const { return fd_.ok(); }
  const std::string& error() const { return error_; }
  // Entries of the `n` pages from page-aligned `addr`; false on a read error.
  bool read(uint64_t addr, size_t n, PageEntry* out) const;
  // Appends the ranges of [start, end) holding present or swapped pages, using
  // the PAGEMAP_SCAN ioctl (Linux 6.7+), which skips empty page tables instead of
  // producing an entry per page. False when the kernel cannot do it.
  bool populated(uint64_t start, uint64_t end, std::vector<std::pair<uint64_t, uint64_t>>& out) const;

 private:
  Fd fd_;
  std::string error_;
};

// How a Memory reads pages in bulk. kPinned: process_vm_readv, one call per batch
// and one copy per page; it pins each page, and the kernel (5.19+) first gives the
// reader a private copy of a copy-on-write page it shares with another process
// (a fault and 4 KiB copied, inside the read; page tables change, contents never).
// kPlain: /proc/PID/mem, a read per run through a bounce page (two copies, no
// pin): the frames stay shared. The differ reads R's side pinned (R owns its
// pages, or ends after the comparison) and P's side as Options::p_reads says:
// pinned, except where P's side is a clone whose frames a later comparison relies
// on (a pre-copy round's key K2: read pinned, each page read would be off P's frame
// at the next comparison, and read again).
enum class PageReads { kPinned, kPlain };

// Reads another process's memory. Construction throws std::runtime_error when the
// process cannot be accessed at all.
class Memory {
 public:
  explicit Memory(pid_t pid, PageReads reads = PageReads::kPlain);
  pid_t pid() const { return pid_; }
  // Reads the pages of `runs` (page-aligned remote ranges) back to back into
  // `buf` (as PageReads says). Returns the number of pages that could not be read in
  // any way; their bytes in `buf` are zero and their indexes (page number within
  // the batch) are appended to `unreadable`.
  size_t read_pages(const std::vector<iovec>& runs, uint8_t* buf, std::vector<size_t>& unreadable);
  // Reads exactly `len` bytes at `addr` through /proc/PID/mem; false when any of
  // them is unreadable; the target's page tables as they were.
  bool read(uint64_t addr, void* buf, size_t len);

 private:
  pid_t pid_;
  PageReads reads_;
  Fd mem_;  // /proc/PID/mem
};

}  // namespace ttst::diff
