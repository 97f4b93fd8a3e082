// proc_files.cc — pagemap entries and bulk memory reads (see proc_files.h).
#include "diff/proc_files.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace ttst::diff {

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) close(fd_);
}

// pread until `len` bytes are in or the file says no; returns bytes read.
static size_t pread_full(int fd, void* buf, size_t len, uint64_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, static_cast<char*>(buf) + done, len - done, static_cast<off_t>(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Pagemap::Pagemap(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/pagemap";
  fd_ = Fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd_.ok()) error_ = "cannot open " + path + ": " + strerror(errno);
}

bool Pagemap::read(uint64_t addr, size_t n, PageEntry* out) const {
  const size_t len = n * sizeof(PageEntry);
  return pread_full(fd_.get(), out, len, addr / kPage * sizeof(PageEntry)) == len;
}

// PAGEMAP_SCAN's ABI (include/uapi/linux/fs.h, Linux 6.7); Debian 12's headers
// predate it.
namespace {
struct PmScanArg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct PageRegion {
  uint64_t start, end, categories;
};
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);
constexpr uint64_t kPageIsPresent = 1 << 3, kPageIsSwapped = 1 << 4;
}  // namespace

bool Pagemap::populated(uint64_t start, uint64_t end, std::vector<std::pair<uint64_t, uint64_t>>& out) const {
  PageRegion vec[256];
  while (start < end) {
    PmScanArg a{};
    a.size = sizeof a;
    a.start = start;
    a.end = end;
    a.vec = reinterpret_cast<uint64_t>(vec);
    a.vec_len = 256;
    a.category_anyof_mask = a.return_mask = kPageIsPresent | kPageIsSwapped;
    const long n = ioctl(fd_.get(), kPagemapScan, &a);
    if (n < 0 || a.walk_end <= start) return false;
    for (long i = 0; i < n; i++) out.push_back({vec[i].start, vec[i].end});
    start = a.walk_end;
  }
  return true;
}

Memory::Memory(pid_t pid, PageReads reads) : pid_(pid), reads_(reads) {
  const std::string path = "/proc/" + std::to_string(pid) + "/mem";
  mem_ = Fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!mem_.ok()) throw std::runtime_error("cannot open " + path + ": " + strerror(errno));
}

size_t Memory::read_pages(const std::vector<iovec>& runs, uint8_t* buf, std::vector<size_t>& unreadable) {
  size_t total = 0;
  for (const iovec& r : runs) total += r.iov_len;
  size_t done = 0;
  if (reads_ == PageReads::kPinned) {  // one process_vm_readv for the whole batch (runs.size() <= IOV_MAX)
    iovec local{buf, total};
    const ssize_t got = process_vm_readv(pid_, &local, 1, runs.data(), runs.size(), 0);
    done = got > 0 ? static_cast<size_t>(got) : 0;
    if (done == total) return 0;
  }
  // A run per read of /proc/PID/mem; a page it cannot read stops a read (and
  // process_vm_readv): from there, page by page, which also reads pages without
  // PROT_READ.
  size_t bad = 0, pos = 0;
  for (const iovec& r : runs) {
    const uint64_t base = reinterpret_cast<uint64_t>(r.iov_base);
    size_t got = pos + r.iov_len <= done ? r.iov_len : 0;
    if (!got && pos >= done) got = pread_full(mem_.get(), buf + pos, r.iov_len, base);
    for (size_t off = 0; off < r.iov_len; off += kPage, pos += kPage) {
      if (off + kPage <= got || pos + kPage <= done) continue;
      if (pread_full(mem_.get(), buf + pos, kPage, base + off) != kPage) {
        memset(buf + pos, 0, kPage);
        unreadable.push_back(pos / kPage);
        ++bad;
      }
    }
  }
  return bad;
}

bool Memory::read(uint64_t addr, void* buf, size_t len) {
  return pread_full(mem_.get(), buf, len, addr) == len;
}

}  // namespace ttst::diff
