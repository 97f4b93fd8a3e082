// process.h — the processes a campaign runs: shell commands with a time limit,
// the server in the background, free ports, and the processes left behind.
#ifndef TTST_STFW_FI_PROCESS_H
#define TTST_STFW_FI_PROCESS_H

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace ttst::fi {

struct Ran {
  int status = -1;  // exit status; 128+N for signal N; -1 when it timed out (killed)
  std::string out;  // its stdout
};
// `/bin/sh -c command`, stdout captured, stderr appended to `err_path` ("" discards
// it); killed (with its process group) after `limit`.
Ran run_shell(const std::string &command, std::chrono::milliseconds limit, const std::string &err_path = "",
              const std::map<std::string, std::string> &env = {});

// `/bin/sh -c "exec command"` in the background (stdout and stderr to `log`): the
// pid is the command's own.
pid_t spawn(const std::string &command, const std::string &log);
// Reaps `pid` if it is our child and ended; true when it is gone or a zombie.
bool ended(pid_t pid);
void kill_and_reap(pid_t pid);

// A TCP port of 127.0.0.1 nobody listened on a moment ago.
int free_port();
// Waits until 127.0.0.1:port accepts a connection or `pid` ends.
bool wait_listening(int port, pid_t pid, std::chrono::milliseconds limit);
// Processes whose executable lies under `dir`.
std::vector<pid_t> processes_under(const std::string &dir);

// {key} -> value in a command template.
std::string expand(std::string templ, const std::map<std::string, std::string> &values);
// A word for the shell ('...').
std::string quote(const std::string &s);

}  // namespace ttst::fi

#endif  // TTST_STFW_FI_PROCESS_H
