// test_util.cc — the shared test helpers of test_util.h.
#include "tests/util/test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace ttst::testutil {

std::string tmpdir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

bool bindable(int port, int* bound) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  close(fd);
  if (ok && bound) *bound = ntohs(a.sin_port);
  return ok;
}

int free_port() {
  int port = 0;
  if (!bindable(0, &port)) throw std::runtime_error("free_port: cannot bind 127.0.0.1:0");
  return port;
}

int free_port_pair(int attempts) {
  for (int i = 0; i < attempts; ++i) {
    int port = 0;
    if (bindable(0, &port) && port < 65535 && bindable(port + 1)) return port;
  }
  throw std::runtime_error("free_port_pair: no two adjacent free ports found");
}

Ran run(const std::string& command) {
  FILE* f = popen(command.c_str(), "r");
  if (!f) throw std::runtime_error("run: cannot start " + command);
  Ran r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) r.out.append(buf, n);
  const int st = pclose(f);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

nlohmann::json json_report(const std::string& out) {
  return out.empty() ? nlohmann::json() : nlohmann::json::parse(out);
}

}  // namespace ttst::testutil
