// service_notify.h — at commit, the service manager learns the new main PID.
// TRUSTED; runs only past the commit point, on a doomed P.
//
// A commit replaces the process: the future version F has a new pid, and P ends.
// systemd tracks a service by its main PID; when that process dies the unit is
// considered stopped and the rest of its processes (F) are killed. A process that
// systemd started with NOTIFY_SOCKET in its environment (Type=notify, or any type
// with NotifyAccess= set) may announce "MAINPID=<pid>" on that socket (the
// sd_notify protocol). P, still the main PID, sends it for F (a datagram sent by
// system calls executed inside the doomed P), before P is killed. The unit needs
// NotifyAccess=main (the default for Type=notify) or all.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "inject/task.h"

namespace ttst::supervisor {

struct ServiceNotify {
  bool attempted = false;  // P has NOTIFY_SOCKET in its environment
  bool sent = false;
  std::string problem;     // why it was not sent ("" when it was)
};

// Never throws: past the commit point nothing may stop the commit.
ServiceNotify notify_main_pid(pid_t past, inject::Task& past_thread, pid_t new_pid, std::chrono::milliseconds timeout);

}  // namespace ttst::supervisor
