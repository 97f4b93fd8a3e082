// kv_client — see kv_client.h.
#include "tests/programs/kvserver/kv_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "inject/tests/test_util.h"

namespace ttst::test {

KvServer KvServer::start(const std::string& binary) {
  inject::testing::Spawned child = inject::testing::spawn({binary, "0"}, /*keep_rseq=*/true);
  close(child.to_child);
  std::string line;
  try {
    line = inject::testing::read_line(child.from_child, std::chrono::seconds(20));
  } catch (const std::exception& e) {
    line = e.what();  // timed out, or the server ended first
  }
  close(child.from_child);
  int port = 0;
  if (sscanf(line.c_str(), "PORT %d", &port) != 1) {
    ::kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    throw std::runtime_error("kvserver did not report its port: '" + line + "'");
  }
  return KvServer{child.pid, port};
}

void KvServer::kill_and_wait() {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  pid = -1;
}

KvClient::KvClient(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::string why = strerror(errno);
    close(fd_);
    throw std::runtime_error("cannot connect to kvserver on port " + std::to_string(port) + ": " + why);
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

KvClient::~KvClient() {
  if (fd_ >= 0) close(fd_);
}

std::string KvClient::command(const std::string& line) {
  send(line + "\n");
  return reply();
}

void KvClient::send(const std::string& msg) {
  for (size_t off = 0; off < msg.size();) {
    ssize_t w = write(fd_, msg.data() + off, msg.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw std::runtime_error("kvserver connection lost while sending");
    off += static_cast<size_t>(w);
  }
}

std::string KvClient::reply() {
  for (;;) {
    size_t nl = pending_.find('\n');
    if (nl != std::string::npos) {
      std::string reply = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      return reply;
    }
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) throw std::runtime_error("no reply within the timeout");
    if (n <= 0) throw std::runtime_error("kvserver closed the connection");
    pending_.append(buf, static_cast<size_t>(n));
  }
}

void KvClient::set_timeout(std::chrono::milliseconds bound) {
  timeval tv{static_cast<time_t>(bound.count() / 1000), static_cast<suseconds_t>(bound.count() % 1000 * 1000)};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

}  // namespace ttst::test
