// test_util.cc — the shared test helpers of test_util.h.
#include "tests/util/test_util.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
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

int listen_backlog(int port) {
  int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  struct {
    nlmsghdr h;
    inet_diag_req_v2 r;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.r.sdiag_family = AF_INET;
  req.r.sdiag_protocol = IPPROTO_TCP;
  req.r.idiag_states = 1u << TCP_LISTEN;
  send(nl, &req, sizeof req, 0);
  int backlog = -1;
  alignas(nlmsghdr) char buf[16384];
  for (bool more = true; more;) {
    ssize_t n = recv(nl, buf, sizeof buf, 0);
    if (n <= 0) break;
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        more = false;
        break;
      }
      auto* m = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      if (ntohs(m->id.idiag_sport) == port) backlog = static_cast<int>(m->idiag_wqueue);
    }
  }
  close(nl);
  return backlog;
}

LineClient::LineClient(int port, std::chrono::seconds reply_bound)
    : fd_(socket(AF_INET, SOCK_STREAM, 0)), bound_(reply_bound) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval bound{static_cast<time_t>(reply_bound.count()), 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd_);
    throw std::runtime_error("cannot connect");
  }
}

LineClient::~LineClient() { close(fd_); }

std::string LineClient::command(const std::string& line) {
  const std::string out = line + "\n";
  if (write(fd_, out.data(), out.size()) != ssize_t(out.size())) return "(connection lost)";
  std::string reply;
  char c;
  for (;;) {
    const ssize_t n = read(fd_, &c, 1);
    if (n <= 0) return reply + (n == 0 ? "(closed)" : "(no reply in " + std::to_string(bound_.count()) + " s)");
    if (c == '\n') return reply;
    reply.push_back(c);
  }
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

Supervised supervise(int pid, const std::string& new_exe, const std::string& extra) {
  const std::string errf = tmpdir() + "/supervise.err";
  const std::string cmd = "env XDG_CACHE_HOME=" + tmpdir() + "/cache supervisor/ttst-supervise --json --report-dir " +
                          tmpdir() + "/reports --pid " + std::to_string(pid) + " --new " + new_exe + " " + extra +
                          " 2>" + errf;
  const Ran ran = run(cmd);
  Supervised r;
  r.status = ran.status;
  r.err = slurp(errf);
  r.report = json_report(ran.out);
  std::fprintf(stderr, "%s -> %d\n%s\n", cmd.c_str(), r.status, r.err.c_str());
  return r;
}

}  // namespace ttst::testutil
