// test_util.cc — see test_util.h.
#include "inject/tests/test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "inject/sys/proc_entries.h"
#include "inject/sys/proc_status.h"

namespace ttst::inject::testing {

using namespace std::chrono;

std::string runfile(const std::string& rel) {
  char buf[PATH_MAX];
  if (!realpath(rel.c_str(), buf)) throw std::runtime_error("runfile not found: " + rel);
  return buf;
}

Spawned spawn(const std::vector<std::string>& argv, bool keep_rseq) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) throw std::runtime_error("pipe");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    if (!keep_rseq) setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  return Spawned{pid, in[1], out[0]};
}

Spawned spawn_blocked(const std::vector<std::string>& args, const std::set<long>& nrs, bool keep_rseq) {
  std::vector<std::string> argv{runfile("tests/programs/blocker/blocker_bin")};
  argv.insert(argv.end(), args.begin(), args.end());
  Spawned s = spawn(argv, keep_rseq);
  if (std::string line = read_line(s.from_child); line != "ready")
    throw std::runtime_error("the blocker said '" + line + "', not ready");
  wait_in_syscall(s.pid, nrs);
  return s;
}

std::string read_line(int fd, milliseconds timeout) {
  std::string line;
  auto deadline = steady_clock::now() + timeout;
  for (;;) {
    int left = static_cast<int>(duration_cast<milliseconds>(deadline - steady_clock::now()).count());
    if (left <= 0) throw std::runtime_error("timed out reading a line, got '" + line + "'");
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left) <= 0) continue;
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n <= 0) throw std::runtime_error("EOF reading a line, got '" + line + "'");
    if (c == '\n') return line;
    line += c;
  }
}

void wait_in_syscall(pid_t pid, const std::set<long>& nrs, milliseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    const char state = state_of(pid);
    if (state == 'Z' || state == 'X')
      throw std::runtime_error("process " + std::to_string(pid) + " exited before it blocked in the expected syscall");
    std::string s = slurp("/proc/" + std::to_string(pid) + "/syscall");
    if (!s.empty() && s != "running\n" && state == 'S') {
      long nr = std::strtol(s.c_str(), nullptr, 10);
      if (nrs.count(nr)) return;
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  throw std::runtime_error("process " + std::to_string(pid) + " never blocked in the expected syscall");
}

std::string request(int port, const std::string& line, int timeout_ms) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(s);
    return "";
  }
  std::string msg = line + "\n";
  if (send(s, msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) {
    close(s);
    return "";
  }
  std::string reply;
  try {
    reply = read_line(s, milliseconds(timeout_ms));
  } catch (const std::exception&) {
    reply = "";
  }
  close(s);
  return reply;
}

void kill_and_reap(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, __WALL);
}

void become_subreaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }

bool gone(pid_t pid, milliseconds timeout) {
  auto deadline = steady_clock::now() + timeout;
  do {
    waitpid(pid, nullptr, __WALL | WNOHANG);  // reap if it is ours
    std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return true;
    auto rp = stat.rfind(')');
    if (rp != std::string::npos && rp + 2 < stat.size() && (stat[rp + 2] == 'Z' || stat[rp + 2] == 'X'))
      return true;
    std::this_thread::sleep_for(milliseconds(5));
  } while (steady_clock::now() < deadline);
  return false;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string fd_flags(pid_t pid, int fd) {
  std::istringstream in(slurp("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd)));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("flags:", 0) == 0) return line.substr(6);
  return "";
}

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  for (pid_t tid : sys::thread_ids(pid).value_or(std::vector<pid_t>{})) {
    std::istringstream in(slurp("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/children"));
    for (pid_t c; in >> c;) out.push_back(c);
  }
  return out;
}

char state_of(pid_t pid) {
  const std::optional<sys::ProcStatus> status = sys::ProcStatus::read(pid);
  return status && status->state() ? status->state() : '?';
}

uint64_t huge_advised_bytes(pid_t pid, uint64_t lo, uint64_t hi) {
  std::ifstream smaps("/proc/" + std::to_string(pid) + "/smaps");
  uint64_t bytes = 0, overlap = 0;
  for (std::string line; std::getline(smaps, line);) {
    unsigned long long a = 0, b = 0;
    if (line.rfind("VmFlags:", 0) == 0) {
      if ((line + " ").find(" hg ") != std::string::npos) bytes += overlap;
    } else if (std::sscanf(line.c_str(), "%llx-%llx ", &a, &b) == 2 && line.find(':') > line.find(' ')) {
      const uint64_t l = std::max<uint64_t>(a, lo), h = std::min<uint64_t>(b, hi);  // a mapping's header line
      overlap = h > l ? h - l : 0;
    }
  }
  return bytes;
}

}  // namespace ttst::inject::testing
