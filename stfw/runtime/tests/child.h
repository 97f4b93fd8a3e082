// child.h — test helper: run a program with pipes on stdin/stdout, read its lines
// with a deadline, copy its writable memory. Header-only, for the runtime tests.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ttst::test {

class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      std::vector<char*> a;
      for (auto& s : argv) a.push_back(s.data());
      a.push_back(nullptr);
      execv(a[0], a.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(to_);
    close(from_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  // The next line of output ("" on EOF or after `ms` milliseconds).
  std::string line(int ms = 60000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now()).count());
      if (left <= 0) return "";
      pollfd p{from_, POLLIN, 0};
      if (poll(&p, 1, left) <= 0) continue;
      char b[4096];
      ssize_t n = read(from_, b, sizeof b);
      if (n <= 0) return "";
      buf_.append(b, static_cast<size_t>(n));
    }
  }
  void send(const std::string& s) { (void)!write(to_, s.data(), s.size()); }
  int wait() {
    int st = 0;
    waitpid(pid_, &st, 0);
    reaped_ = true;
    return st;
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  bool reaped_ = false;
  std::string buf_;
};

inline std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

inline uint64_t hex(const std::string& s) { return std::stoull(s, nullptr, 16); }

// A bulk copy of every readable+writable mapping of a process (what an agent
// would get), with translate() for ttst_heap_walk.
struct MemoryCopy {
  struct Region {
    uint64_t lo, hi;
    std::string name;
    std::vector<char> bytes;
  };
  std::vector<Region> regions;

  static MemoryCopy of(pid_t pid) {
    MemoryCopy m;
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    std::string l;
    while (std::getline(maps, l)) {
      std::istringstream in(l);
      std::string range, perms, off, dev, inode, name;
      in >> range >> perms >> off >> dev >> inode;
      std::getline(in, name);
      if (perms.size() < 2 || perms[0] != 'r' || perms[1] != 'w') continue;
      if (name.find("[vvar]") != std::string::npos || name.find("[vsyscall]") != std::string::npos) continue;
      Region r;
      r.lo = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
      r.hi = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
      r.name = name;
      r.bytes.resize(r.hi - r.lo);
      iovec local{r.bytes.data(), r.bytes.size()}, remote{reinterpret_cast<void*>(r.lo), r.bytes.size()};
      if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != static_cast<ssize_t>(r.bytes.size())) continue;
      if (!m.regions.empty() && m.regions.back().hi == r.lo) {  // adjacent: one range
        auto& b = m.regions.back();
        b.bytes.insert(b.bytes.end(), r.bytes.begin(), r.bytes.end());
        b.hi = r.hi;
      } else {
        m.regions.push_back(std::move(r));
      }
    }
    return m;
  }

  const void* at(uint64_t addr, uint64_t len) const {
    for (auto& r : regions)
      if (addr >= r.lo && addr + len <= r.hi && addr + len >= addr) return r.bytes.data() + (addr - r.lo);
    return nullptr;
  }
  static const void* translate(void* self, uint64_t addr, uint64_t len) {
    return static_cast<MemoryCopy*>(self)->at(addr, len);
  }
  uint64_t hash() const {
    uint64_t h = 1469598103934665603ull;
    for (auto& r : regions) {
      for (char c : r.bytes) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
      h ^= r.lo;
    }
    return h;
  }
};

// Runs `program CHECK` (a probe of tests/programs/runtime: exit 0 when the check
// holds, else a line on stderr): its exit status, 128 + the signal if it died.
inline int probe(const char* program, const char* check) {
  Child c({program, check});
  int st = c.wait();
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace ttst::test
