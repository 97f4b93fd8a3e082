// state_pair.cc — see state_pair.h.
#include "diff/testing/state_pair.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace ttst::diff::testing {
namespace {

// Registers only from here on: rdi/rsi/rdx survive the fork for R's mmap.
[[noreturn]] void fork_and_pause(uint64_t addr, uint64_t len, uint64_t prot) {
  asm volatile(
      "mov $57, %%eax\n\t"  // SYS_fork
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"  // P
      "test %%rsi, %%rsi\n\t"
      "jz 1f\n\t"
      "mov $0x100022, %%r10d\n\t"  // MAP_FIXED_NOREPLACE|MAP_ANONYMOUS|MAP_PRIVATE
      "mov $-1, %%r8\n\t"
      "xor %%r9d, %%r9d\n\t"
      "mov $9, %%eax\n\t"  // SYS_mmap, in R only
      "syscall\n\t"
      "1: mov $34, %%eax\n\t"  // SYS_pause, forever, in both processes
      "syscall\n\t"
      "jmp 1b\n\t" ::"D"(addr),
      "S"(len), "d"(prot)
      : "rax", "rcx", "r8", "r9", "r10", "r11", "memory");
  __builtin_unreachable();
}

char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  std::getline(in, s);
  size_t close = s.rfind(')');
  return close == std::string::npos || close + 2 >= s.size() ? '?' : s[close + 2];
}

pid_t child_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  pid_t c = -1;
  in >> c;
  return c;
}

}  // namespace

StatePair::StatePair(const std::function<void()>& setup, uint64_t r_map_addr, uint64_t r_map_len,
                     int r_map_prot) {
  // R becomes our child when P dies, so the destructor can reap it.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  p_ = fork();
  if (p_ < 0) throw std::runtime_error(std::string("fork: ") + strerror(errno));
  if (p_ == 0) {
    setup();
    fork_and_pause(r_map_addr, r_map_len, static_cast<uint64_t>(r_map_prot));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (r_ <= 0) r_ = child_of(p_);
    if (r_ > 0 && state_of(p_) == 'S' && state_of(r_) == 'S') return;
    if (waitpid(p_, nullptr, WNOHANG) == p_) {
      p_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  this->~StatePair();
  throw std::runtime_error("state process did not reach its pause");
}

StatePair::~StatePair() {
  if (r_ > 0) kill(r_, SIGKILL);
  if (p_ > 0) kill(p_, SIGKILL);
  if (p_ > 0) waitpid(p_, nullptr, 0);
  if (r_ > 0) waitpid(r_, nullptr, 0);  // reparented to us (subreaper) once P died
  p_ = r_ = -1;
}

std::vector<IgnoredRange> caller_rseq_fields() {
  if (__rseq_size == 0) return {};
  const uint64_t area = reinterpret_cast<uint64_t>(__builtin_thread_pointer()) + static_cast<uint64_t>(__rseq_offset);
  return rseq_kernel_fields(area, "the main thread");
}

void poke(pid_t pid, uint64_t addr, const void* data, size_t len) {
  const std::string path = "/proc/" + std::to_string(pid) + "/mem";
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("open " + path + ": " + strerror(errno));
  ssize_t n = pwrite(fd, data, len, static_cast<off_t>(addr));
  int e = errno;
  close(fd);
  if (n != static_cast<ssize_t>(len)) throw std::runtime_error("write " + path + ": " + strerror(e));
}

}  // namespace ttst::diff::testing
