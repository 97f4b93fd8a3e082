// process.cc — process handling for process.h (fork/exec, poll, /proc).
#include "stfw/fi/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace ttst::fi {

namespace {
int exit_code(int wstatus) {
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : -1;
}
}  // namespace

Ran run_shell(const std::string &command, std::chrono::milliseconds limit, const std::string &err_path,
              const std::map<std::string, std::string> &env) {
  Ran r;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return r;
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(pipefd[1], 1);
    int err = open(err_path.empty() ? "/dev/null" : err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err >= 0) dup2(err, 2);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    for (const auto &[k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char *>(nullptr));
    _exit(127);
  }
  close(pipefd[1]);
  if (pid < 0) {
    close(pipefd[0]);
    return r;
  }
  auto deadline = std::chrono::steady_clock::now() + limit;
  bool timed_out = false;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{pipefd[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), INT_MAX)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    ssize_t got = read(pipefd[0], buf, sizeof buf);
    if (got <= 0) break;
    r.out.append(buf, static_cast<size_t>(got));
  }
  if (timed_out) kill(-pid, SIGKILL), kill(pid, SIGKILL);
  close(pipefd[0]);
  int ws = 0;
  while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
  }
  r.status = timed_out ? -1 : exit_code(ws);
  return r;
}

pid_t spawn(const std::string &command, const std::string &log) {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // v1 does not outlive an interrupted campaign
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    std::string c = "exec " + command;
    execl("/bin/sh", "sh", "-c", c.c_str(), static_cast<char *>(nullptr));
    _exit(127);
  }
  return pid;
}

bool ended(pid_t pid) {
  int ws;
  pid_t r = waitpid(pid, &ws, WNOHANG);
  if (r == pid || (r < 0 && errno == ECHILD)) {
    if (r < 0) return kill(pid, 0) != 0;  // not our child: gone?
    return true;
  }
  return false;
}

void kill_and_reap(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  int ws;
  if (waitpid(pid, &ws, 0) == pid) return;
  for (int i = 0; i < 200 && kill(pid, 0) == 0; ++i) {  // not our child: wait until init reaps it
    std::string st;
    FILE *f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (!f) return;
    char state = 0;
    int ignored = std::fscanf(f, "%*d %*s %c", &state);
    (void)ignored;
    std::fclose(f);
    if (state == 'Z') return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

bool wait_listening(int port, pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
    close(fd);
    if (ok) return true;
    if (ended(pid)) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<pid_t> processes_under(const std::string &dir) {
  std::vector<pid_t> out;
  std::error_code ec;
  std::string prefix = std::filesystem::absolute(dir, ec).string() + "/";
  for (const auto &e : std::filesystem::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    char buf[PATH_MAX];
    ssize_t n = readlink((e.path() / "exe").c_str(), buf, sizeof buf - 1);
    if (n <= 0) continue;
    std::string exe(buf, static_cast<size_t>(n));
    if (exe.compare(0, prefix.size(), prefix) == 0) out.push_back(std::atoi(name.c_str()));
  }
  return out;
}

std::string expand(std::string templ, const std::map<std::string, std::string> &values) {
  for (const auto &[k, v] : values) {
    std::string key = "{" + k + "}";
    for (size_t at = templ.find(key); at != std::string::npos; at = templ.find(key, at + v.size()))
      templ.replace(at, key.size(), v);
  }
  return templ;
}

std::string quote(const std::string &s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace ttst::fi
