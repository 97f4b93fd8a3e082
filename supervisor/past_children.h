// past_children.h — the past version's child processes at update time (issue 18,
// "process realities"). TRUSTED.
//
// A server that forks (a background save, a worker, a CGI runner) expects to
// wait() for its child and to get SIGCHLD when it ends. After a commit the child
// still has P as its parent: F, exec'd from a separate fork of P, is not its
// parent and can never wait for it or be told of its end (a child is reparented
// to init or a subreaper when P dies, never to F), so state that says "a save is
// in progress" would wait forever in F. The rule: as the quiesce phase starts,
// P's children are waited for with P running, for at most half of the time the
// update has left (P reaps them itself, as it always does; --validate-only does
// not wait). A child of P still there at the commit point — running, or ended and
// not yet waited for by P (a zombie) — refuses the update with one line naming it
// (reason child_process, exit status 2); F and R are then ended as after any
// failure. The check is made at the commit point, not at the seizure, so that the
// attempt still validates v2 against the state (a --validate-only run passes, its
// message naming the child) and every rollback path runs with the child there.
// P is never stopped while we wait. Nothing here waits for, signals or reaps a
// child of P (we are not its parent), and the processes the supervisor creates
// are never children P could see (process_factory.h): a refusal or a rollback
// leaves P's children, its zombies and its pending SIGCHLD exactly as they were.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace ttst::supervisor {

struct PastChild {
  pid_t pid = 0;
  std::string command;  // its command line (or name), for the refusal
  bool ended = false;   // a zombie: exited, not yet waited for by its parent
};

// The children of `parent` (every thread's), read from /proc.
std::vector<PastChild> children_of(pid_t parent);

// Waits, polling /proc while `parent` runs, until it has no child or `bound` has
// passed. Returns the children left (empty: none).
std::vector<PastChild> wait_for_children(pid_t parent, std::chrono::milliseconds bound);

// The refusal's line for the first child in `left`: which child, and why.
std::string children_refusal(pid_t parent, const std::vector<PastChild>& left, std::chrono::milliseconds waited);

}  // namespace ttst::supervisor
