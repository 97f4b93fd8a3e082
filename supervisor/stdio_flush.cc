// stdio_flush.cc — see stdio_flush.h.
#include "supervisor/stdio_flush.h"

#include <sys/syscall.h>

#include <cerrno>
#include <cstring>

#include "dwarfmeta/elf_file.h"
#include "inject/memory.h"
#include "inject/remote_syscalls.h"
#include "inject/sys/hex.h"
#include "inject/sys/proc_maps.h"

namespace ttst::supervisor {
namespace {

// glibc x86-64 struct _IO_FILE (libio/bits/types/struct_FILE.h).
constexpr uint64_t kFlags = 0, kWriteBase = 32, kWritePtr = 40, kBufBase = 56, kBufEnd = 64, kChain = 104,
                   kFileno = 112, kFileHead = 120;
constexpr uint32_t kMagicMask = 0xffff0000u, kMagic = 0xfbad0000u, kNoWrites = 0x8u;
constexpr int kMaxFiles = 4096;

// The run-time address of libc's _IO_list_all in `pid`, or 0.
uint64_t list_head(pid_t pid) {
  for (const sys::Mapping& m : sys::read_maps(pid)) {
    if (m.offset != 0 || m.path.find("/libc.so") == std::string::npos) continue;
    // The file as P mapped it, even if replaced on disk since.
    std::string path = "/proc/" + std::to_string(pid) + "/map_files/" + sys::hex_digits(m.start) + "-" +
                       sys::hex_digits(m.end);
    for (const std::string& p : {path, m.path}) {
      try {
        dwarfmeta::ElfFile elf(p);
        for (const dwarfmeta::Symbol& s : elf.symbols())
          if (s.name == "_IO_list_all" && s.shndx != 0) return m.start + s.value;
      } catch (const std::exception&) {
      }
    }
    return 0;
  }
  return 0;
}

}  // namespace

StdioFlush flush_past_stdio(pid_t pid, inject::Task& past_thread, std::chrono::milliseconds per_write) {
  StdioFlush out;
  try {
    uint64_t head = list_head(pid);
    if (!head) return out.problem = "libc's _IO_list_all not found", out;
    struct Pending {
      int fd;
      uint64_t at, len;
    };
    std::vector<Pending> pending;
    uint64_t file = 0;
    inject::read_memory(pid, head, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&file), 8));
    for (int n = 0; file && n < kMaxFiles; ++n) {
      uint8_t f[kFileHead];
      if (inject::try_read_memory(pid, file, f) != sizeof f) break;
      uint32_t flags;
      uint64_t base, ptr, buf_base, buf_end, chain;
      int32_t fd;
      std::memcpy(&flags, f + kFlags, 4);
      std::memcpy(&base, f + kWriteBase, 8), std::memcpy(&ptr, f + kWritePtr, 8);
      std::memcpy(&buf_base, f + kBufBase, 8), std::memcpy(&buf_end, f + kBufEnd, 8);
      std::memcpy(&chain, f + kChain, 8), std::memcpy(&fd, f + kFileno, 4);
      if ((flags & kMagicMask) != kMagic) break;  // not a FILE: stop following the list
      if (!(flags & kNoWrites) && fd >= 0 && ptr > base && base >= buf_base && ptr <= buf_end)
        pending.push_back({fd, base, ptr - base});
      file = chain;
    }
    if (pending.empty()) return out;
    inject::RemoteSyscalls rs(past_thread, per_write, inject::IfReleased::kResumes);
    for (const Pending& p : pending) {
      ++out.files;
      uint64_t done = 0;
      while (done < p.len) {
        int64_t r = rs.call(SYS_write, {uint64_t(p.fd), p.at + done, p.len - done}).ret;
        if (r == -EINTR) continue;
        if (r <= 0) {
          out.problem = "descriptor " + std::to_string(p.fd) + ": " + (r == 0 ? "wrote nothing" : std::strerror(int(-r)));
          break;
        }
        done += uint64_t(r);
      }
      out.bytes += done, out.lost += p.len - done;
    }
    rs.restore();
  } catch (const std::exception& e) {
    out.problem = e.what();
  }
  return out;
}

}  // namespace ttst::supervisor
