// past_children.cc — see past_children.h.
#include "supervisor/past_children.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "supervisor/proc_stat.h"

namespace ttst::supervisor {
namespace {

// The state letter and parent pid of `pid` from /proc/PID/stat; false when gone.
bool read_stat(pid_t pid, char& state, pid_t& ppid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const std::vector<std::string> f = stat_fields(line);
  if (f.size() < 2) return false;
  state = f[0][0];
  return static_cast<bool>(std::istringstream(f[1]) >> ppid);
}

std::string command_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string cmd(std::istreambuf_iterator<char>(in), {});
  while (!cmd.empty() && cmd.back() == '\0') cmd.pop_back();
  for (char& c : cmd)
    if (c == '\0') c = ' ';
  if (cmd.empty()) {  // a zombie has no command line left: its name
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::getline(comm, cmd);
  }
  return cmd.size() > 120 ? cmd.substr(0, 117) + "..." : cmd;
}

}  // namespace

std::vector<PastChild> children_of(pid_t parent) {
  std::vector<PastChild> out;
  const pid_t self = ::getpid();
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    char state = 0;
    pid_t ppid = 0;
    // This supervisor, started by P itself (a server running its own update), is no job of P's.
    if (pid == parent || pid == self || !read_stat(pid, state, ppid) || ppid != parent) continue;
    out.push_back({pid, command_of(pid), state == 'Z'});
  }
  return out;
}

std::vector<PastChild> wait_for_children(pid_t parent, std::chrono::milliseconds bound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  std::vector<PastChild> left = children_of(parent);
  if (!left.empty())
    spdlog::warn("pid {} has {} child process(es) (pid {}: {}); waiting up to {} ms for them to end", parent,
                 left.size(), left.front().pid, left.front().command, bound.count());
  // A child is not ours to wait for (wait() and pidfds see its exit, not its
  // parent reaping it): /proc is polled, P running and reaping meanwhile.
  while (!left.empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    left = children_of(parent);
  }
  return left;
}

std::string children_refusal(pid_t parent, const std::vector<PastChild>& left, std::chrono::milliseconds waited) {
  const PastChild& c = left.front();
  std::string m = "pid " + std::to_string(parent) + " has a child process, pid " + std::to_string(c.pid) + " (" +
                  c.command + "), that ";
  m += c.ended ? "has ended but was not waited for by its parent" : "was still running";
  m += " after the update waited " + std::to_string(waited.count()) + " ms for it";
  if (left.size() > 1) m += " (and " + std::to_string(left.size() - 1) + " more)";
  return m + ": the new version could not wait for it or be told of its end";
}

}  // namespace ttst::supervisor
