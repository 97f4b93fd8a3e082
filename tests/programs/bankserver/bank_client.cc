// bank_client — see bank_client.h.
#include "tests/programs/bankserver/bank_client.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>

#include "inject/tests/test_util.h"

namespace ttst::test {

BankServer BankServer::start(const std::string& binary, long accounts, std::chrono::milliseconds bound) {
  inject::testing::Spawned child = inject::testing::spawn({binary, "0", std::to_string(accounts)}, /*keep_rseq=*/true);
  close(child.to_child);
  std::string line;
  try {
    line = inject::testing::read_line(child.from_child, bound);
  } catch (const std::exception& e) {
    line = e.what();  // timed out, or the server ended first
  }
  close(child.from_child);
  int port = 0;
  if (std::sscanf(line.c_str(), "PORT %d", &port) != 1) {
    ::kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    throw std::runtime_error("bankserver did not report its port: '" + line + "'");
  }
  return BankServer{child.pid, port};
}

void BankServer::kill_and_wait() {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  pid = -1;
}

}  // namespace ttst::test
