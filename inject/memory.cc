// memory.cc — see memory.h.
#include "inject/memory.h"

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

#include "inject/error.h"
#include "inject/sys/hex.h"
#include "inject/sys/proc_maps.h"

namespace ttst::inject {

size_t try_read_memory(pid_t pid, uint64_t addr, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    iovec local{out.data() + done, out.size() - done};
    iovec remote{reinterpret_cast<void*>(addr + done), out.size() - done};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

void read_memory(pid_t pid, uint64_t addr, std::span<uint8_t> out) {
  size_t n = try_read_memory(pid, addr, out);
  if (n != out.size())
    throw InjectError("cannot read " + std::to_string(out.size()) + " bytes at " +
                      sys::hex(addr) + " in process " + std::to_string(pid));
}

std::vector<uint8_t> read_memory(pid_t pid, uint64_t addr, size_t len) {
  std::vector<uint8_t> v(len);
  read_memory(pid, addr, v);
  return v;
}

void write_memory(pid_t pid, uint64_t addr, std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    iovec local{const_cast<uint8_t*>(data.data()) + done, data.size() - done};
    iovec remote{reinterpret_cast<void*>(addr + done), data.size() - done};
    ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
    if (n <= 0)
      throw_errno("writing " + std::to_string(data.size()) + " bytes at " + sys::hex(addr) +
                  " in process " + std::to_string(pid));
    done += static_cast<size_t>(n);
  }
}

void write_memory_pieces(pid_t pid, std::span<const MemoryPiece> pieces) {
  constexpr size_t kBatch = 1024;  // IOV_MAX
  std::vector<iovec> local, remote;
  for (size_t at = 0; at < pieces.size(); at += kBatch) {
    local.clear(), remote.clear();
    size_t want = 0;
    for (size_t i = at; i < std::min(pieces.size(), at + kBatch); ++i) {
      const auto& [addr, bytes] = pieces[i];
      local.push_back({const_cast<uint8_t*>(bytes.data()), bytes.size()});
      remote.push_back({reinterpret_cast<void*>(addr), bytes.size()});
      want += bytes.size();
    }
    const ssize_t n = process_vm_writev(pid, local.data(), local.size(), remote.data(), remote.size(), 0);
    if (n < 0 || static_cast<size_t>(n) != want) {  // a partial write: each of the batch alone, which says where
      for (size_t i = at; i < std::min(pieces.size(), at + kBatch); ++i)
        write_memory(pid, pieces[i].first, pieces[i].second);
    }
  }
}

MemoryDigest digest_writable_memory(pid_t pid, const std::vector<Range>& exclude) {
  MemoryDigest d;
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      h ^= p[i];
      h *= 1099511628211ull;
    }
  };
  std::vector<uint8_t> buf;
  for (const sys::Mapping& m : sys::read_maps(pid)) {
    std::string layout = sys::hex_digits(m.start) + "-" + sys::hex_digits(m.end) + m.perms + m.path;
    mix(reinterpret_cast<const uint8_t*>(layout.data()), layout.size());
    if (!m.readable() || !m.writable()) continue;
    buf.resize(m.end - m.start);
    size_t n = try_read_memory(pid, m.start, buf);
    if (n != buf.size())
      throw InjectError("cannot read writable mapping " + layout + " of process " +
                        std::to_string(pid));
    for (const Range& x : exclude) {
      uint64_t lo = std::max(x.start, m.start), hi = std::min(x.end, m.end);
      if (lo < hi) std::fill(buf.begin() + (lo - m.start), buf.begin() + (hi - m.start), 0);
    }
    mix(buf.data(), n);
    d.bytes += n;
    d.writable.push_back(m);
  }
  d.hash = h;
  return d;
}

}  // namespace ttst::inject
