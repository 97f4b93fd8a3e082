// service_notify.cc — see service_notify.h.
#include "supervisor/service_notify.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <vector>

#include "inject/memory.h"
#include "inject/remote_syscalls.h"

namespace ttst::supervisor {
namespace {

// The value of NOTIFY_SOCKET in P's initial environment, or "".
std::string notify_socket(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), {});
  const std::string key = "NOTIFY_SOCKET=";
  for (size_t at = 0; at < all.size();) {
    size_t end = all.find('\0', at);
    if (end == std::string::npos) end = all.size();
    if (all.compare(at, key.size(), key) == 0) return all.substr(at + key.size(), end - at - key.size());
    at = end + 1;
  }
  return "";
}

}  // namespace

ServiceNotify notify_main_pid(pid_t past, inject::Task& past_thread, pid_t new_pid, std::chrono::milliseconds timeout) {
  ServiceNotify out;
  std::string path = notify_socket(past);
  if (path.empty()) return out;
  out.attempted = true;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@'))
    return out.problem = "NOTIFY_SOCKET is not a usable socket address (absolute or @abstract, under 108 bytes): " +
                         path,
           out;
  std::memcpy(sa.sun_path, path.data(), path.size());
  if (path[0] == '@') sa.sun_path[0] = '\0';  // abstract namespace
  socklen_t salen = socklen_t(offsetof(sockaddr_un, sun_path) + path.size());
  std::string msg = "MAINPID=" + std::to_string(new_pid) + "\n";
  try {
    inject::RemoteSyscalls rs(past_thread, timeout, inject::IfReleased::kResumes);
    // A page of P's for the address and the message (P is doomed: it never reads it).
    int64_t page = rs.call_checked("mmap", SYS_mmap,
                                   {0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, ~0ull, 0});
    std::vector<uint8_t> bytes(sizeof sa + msg.size());
    std::memcpy(bytes.data(), &sa, sizeof sa);
    std::memcpy(bytes.data() + sizeof sa, msg.data(), msg.size());
    inject::write_memory(past, uint64_t(page), bytes);
    int64_t fd = rs.call_checked("socket", SYS_socket, {AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0});
    int64_t sent = rs.call(SYS_sendto, {uint64_t(fd), uint64_t(page) + sizeof sa, msg.size(), MSG_NOSIGNAL,
                                        uint64_t(page), salen})
                       .ret;
    rs.call(SYS_close, {uint64_t(fd)});
    rs.call(SYS_munmap, {uint64_t(page), 4096});
    rs.restore();
    if (sent == int64_t(msg.size())) out.sent = true;
    else out.problem = std::string("sendto to ") + path + ": " + (sent < 0 ? std::strerror(int(-sent)) : "short write");
  } catch (const std::exception& e) {
    out.problem = e.what();
  }
  return out;
}

}  // namespace ttst::supervisor
