// grace_period.cc — see grace_period.h.
#include "supervisor/grace_period.h"

#include <errno.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "inject/error.h"
#include "inject/sys/signals.h"
#include "supervisor/future_startup.h"
#include "supervisor/future_threads.h"
#include "supervisor/quiesce/drive_threads.h"
#include "supervisor/quiesce/quiesce.h"

namespace ttst::supervisor {
namespace {

using Clock = std::chrono::steady_clock;

// The socket inode behind F's descriptor `fd` now, 0 when not a socket.
uint64_t socket_of(pid_t pid, int fd) {
  char buf[64];
  const std::string path = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  const ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long ino = 0;
  return std::sscanf(buf, "socket:[%llu]", &ino) == 1 ? ino : 0;
}

bool reads(long nr) { return nr == SYS_read || nr == SYS_readv || nr == SYS_recvfrom || nr == SYS_recvmsg || nr == SYS_recvmmsg; }
bool writes(long nr) {
  return nr == SYS_write || nr == SYS_writev || nr == SYS_sendto || nr == SYS_sendmsg || nr == SYS_sendmmsg ||
         nr == SYS_sendfile;
}

// What F does with P's sockets, from its syscall-exit stops: only calls that
// moved data (a result above 0) or accepted a connection count.
class SocketUse {
 public:
  SocketUse(pid_t f, const SharedDescriptions& shared, Grace& out) : pid_(f), shared_(shared), out_(out) {}

  void observe(const user_regs_struct& r) {
    const long nr = static_cast<long>(r.orig_rax);
    const int64_t ret = static_cast<int64_t>(r.rax);
    if (ret == -ENOSYS || ret < 0) return;  // an entry stop, or a call that failed
    const bool rd = reads(nr) && ret > 0, wr = writes(nr) && ret > 0;
    const bool acc = nr == SYS_accept || nr == SYS_accept4;
    if (!rd && !wr && !acc) return;
    const uint64_t ino = socket_of(pid_, static_cast<int>(r.rdi));
    if (!ino) return;
    if (acc) {
      if (shared_.listener(ino)) {
        ++out_.accepted;
        if (uint64_t mine = socket_of(pid_, static_cast<int>(ret))) accepted_.insert(mine);
      }
      return;
    }
    if (const SharedFd* p = shared_.connection(ino)) {
      GraceConnection& c = used_[p->fd];
      c.fd = p->fd;
      c.read |= rd;
      c.replied |= wr;
    } else if (wr && accepted_.count(ino)) {
      replied_accepted_.insert(ino);
    }
  }

  void finish() {
    for (auto& [fd, c] : used_) {
      c.peer = shared_.peer_of(fd);
      out_.connections.push_back(c);
    }
    out_.replied_on_accepted = replied_accepted_.size();
  }

 private:
  pid_t pid_;
  const SharedDescriptions& shared_;
  Grace& out_;
  std::map<int, GraceConnection> used_;
  std::set<uint64_t> accepted_, replied_accepted_;
};

// F, running at the end of the period: released, seized again as a process and
// judged by the quiescence rule, then (not idle) asked to its update point.
GraceVerdict judge(inject::ChildProcess& future, const GraceRequest& q, std::optional<inject::SeizedProcess>& hung) {
  const pid_t pid = future.pid();
  GraceVerdict v;
  try {
    future.release();  // interrupted, then detached: it runs untraced for an instant
    inject::SeizedProcess f = inject::SeizedProcess::seize(pid);
    const quiesce::Verdict idle = quiesce::classify(f, q.v2->update_points());
    if (idle.quiescent) {
      v.detail = f.threads().size() == 1 ? "idle at its loop's wait"
                                         : "each of its " + std::to_string(f.threads().size()) +
                                               " threads idle at its loop's wait or at its update point";
      return v;
    }
    std::string where;
    if (f.threads().size() != 1) {  // every thread judged (issue 19): the busy ones asked together
      const quiesce::DriveOutcome d =
          quiesce::drive_threads(f, idle, q.v2->update_points(), *q.future_runtime, q.probe_bound);
      if (d.reached) {
        v.detail = "its threads reached their update points when asked";
        return v;
      }
      where = d.message;
    } else if (bool waits = false;
               quiesce::drive_to_update_point(f, *q.future_runtime, q.probe_bound, where, &q.v2->update_points(), &waits)) {
      v.detail = waits ? "idle at its loop's wait" : "it reached its update point when asked";  // waits: entered it when asked
      return v;
    }
    v.kind = GraceVerdict::Kind::kHung;
    v.detail = "neither idle at its loop's wait nor at its update point within " +
               std::to_string(q.probe_bound.count()) + " ms: " + where;
    hung.emplace(std::move(f));
  } catch (const inject::TraceeDied&) {
    v.kind = GraceVerdict::Kind::kCrashed;
    v.detail = "it ended while being judged";
  } catch (const std::exception& e) {
    if (::kill(pid, 0) != 0) {
      v.kind = GraceVerdict::Kind::kCrashed;
      v.detail = "it ended while being judged";
    } else {
      v.detail = std::string("not judged (") + e.what() + "): kept";
      spdlog::warn("grace period: could not judge pid {}: {}", pid, e.what());
    }
  }
  return v;
}

// F's ptrace options during the period: those of the commit (no EXITKILL), and
// PTRACE_O_TRACECLONE while `others` can receive the threads F creates.
unsigned watch_options(bool clones) {
  return (inject::options_child() & ~unsigned{PTRACE_O_EXITKILL}) | (clones ? unsigned{PTRACE_O_TRACECLONE} : 0u);
}

// One stop of a thread of F during the period: a syscall shown to `on_syscall`, a
// signal to `on_signal` (then delivered), a thread F creates adopted into `others`
// (watched like the rest); then resumed with PTRACE_SYSCALL.
void serve_stop(inject::Task& t, const inject::Stop& s, std::deque<inject::Task>* others,
                const std::function<void(inject::Task&)>& on_syscall,
                const std::function<void(inject::Task&, const inject::Stop&)>& on_signal) {
  int sig = 0;
  if (s.kind == inject::StopKind::kSyscall) {
    on_syscall(t);
  } else if (s.kind == inject::StopKind::kSignalDelivery) {
    on_signal(t, s);
    sig = s.sig;
  } else if (s.kind == inject::StopKind::kEvent && s.event == PTRACE_EVENT_CLONE && others) {
    const pid_t child = static_cast<pid_t>(t.event_msg());  // F killed meanwhile: TraceeDied, its end comes next
    try {
      others->push_back(inject::Task::adopt(child, std::chrono::milliseconds(1000)));
      others->back().resume(PTRACE_SYSCALL);
    } catch (const inject::TraceeDied&) {  // ended at once
    }
  }
  t.resume(PTRACE_SYSCALL, sig);
}

// F's threads watched together for the period (issue 19): every syscall stop of
// every thread shown to `on_syscall`, every signal shown to `on_signal` and then
// delivered, every thread F creates meanwhile traced from its first instruction
// (PTRACE_O_TRACECLONE) and watched too. A thread that ends is reaped (wait_for
// forgets it): the kernel reports the main thread's end, F's, only once its other
// traced threads are reaped. The main thread's end, or nullopt when the period ran
// out (F running on, the other threads still traced: detach them before judging F).
std::optional<inject::Stop> watch(inject::Task& main, std::deque<inject::Task>* others,
                                  std::chrono::milliseconds period,
                                  const std::function<void(inject::Task&)>& on_syscall,
                                  const std::function<void(inject::Task&, const inject::Stop&)>& on_signal) {
  const Clock::time_point deadline = Clock::now() + period;
  main.set_options(watch_options(others != nullptr));
  main.resume(PTRACE_SYSCALL);
  if (others)
    for (inject::Task& t : *others)
      if (t.attached()) {
        t.set_options(watch_options(true));
        t.resume(PTRACE_SYSCALL);  // stopped at their markers since the start-up
      }
  long sleep_ns = 2000;
  bool killed = false;  // a thread of F killed by a signal: all of F is ending
  for (;;) {
    bool any = false;
    auto serve = [&](inject::Task& t) -> std::optional<inject::Stop> {
      std::optional<inject::Stop> s = t.wait_for(std::chrono::milliseconds(0));
      if (!s) return s;
      any = true;
      killed |= s->kind == inject::StopKind::kKilled;
      try {
        if (s->alive()) serve_stop(t, *s, others, on_syscall, on_signal);
      } catch (const inject::TraceeDied&) {  // F killed while stopped here: its end comes next
        killed = true;
      }
      return s;
    };
    if (others)
      for (size_t i = 0; i < others->size(); ++i)  // by index: serve() may adopt a thread
        if ((*others)[i].attached()) serve((*others)[i]);
    if (killed && others) reap_unadopted_threads(main.tid(), *others);  // F's end waits for them
    if (std::optional<inject::Stop> s = serve(main); s && !s->alive()) return s;
    if (Clock::now() >= deadline) return std::nullopt;
    if (any) {
      sleep_ns = 2000;
    } else {
      timespec ts{0, sleep_ns};
      nanosleep(&ts, nullptr);
      if (sleep_ns < 200000) sleep_ns *= 2;
    }
  }
}

// At the end of the period, F alive: its other threads let go (judge() seizes F
// as a process again), none it created meanwhile left behind. Each thread, the main
// one first, is stopped with the stops that come first served as in the period (a
// clone event's child adopted, then let go in its turn) and PTRACE_O_TRACECLONE
// dropped (a stopped thread creates none); the main thread is left stopped, the
// others detached.
void let_go_of_threads(inject::Task& main, std::deque<inject::Task>* others,
                       const std::function<void(inject::Task&)>& on_syscall,
                       const std::function<void(inject::Task&, const inject::Stop&)>& on_signal) {
  if (!others) return;
  auto stop = [&](inject::Task& t) {
    t.interrupt(std::chrono::milliseconds(1000), [&](const inject::Stop& s) {
      serve_stop(t, s, others, on_syscall, on_signal);
      return false;
    });
    t.set_options(watch_options(false));
  };
  stop(main);
  for (size_t i = 0; i < others->size(); ++i) {
    inject::Task& t = (*others)[i];  // a deque: adopting keeps this reference valid
    try {
      if (!t.attached()) continue;
      stop(t);
      t.detach(0);
    } catch (const inject::TraceeDied&) {
      t.forget();
    }
  }
}

}  // namespace

GraceVerdict run_grace_period(inject::ChildProcess& future, const GraceRequest& q, Grace& out,
                              std::optional<inject::SeizedProcess>& hung) {
  const auto t0 = Clock::now();
  SocketUse use(future.pid(), *q.shared, out);
  std::optional<Crash> crash;
  pid_t crashed_thread = 0;
  auto on_signal = [&](inject::Task& t, const inject::Stop& s) {
    if (!sys::is_crash_signal(s.sig) || crash) return;
    crash = describe_future_crash(future.pid(), t, *q.v2, s.sig);
    crashed_thread = t.tid();
  };
  auto on_syscall = [&](inject::Task& t) {
    use.observe(t.get_regs());
    if (q.on_stop) q.on_stop();
  };
  std::optional<inject::Stop> end = watch(future.task(), q.threads, q.period, on_syscall, on_signal);
  GraceVerdict v;
  if (end && end->kind == inject::StopKind::kExited) {
    v.kind = GraceVerdict::Kind::kExited;
    v.exit_code = end->exit_code;
    v.detail = "exited with status " + std::to_string(end->exit_code);
  } else if (end) {  // killed by a signal (a syscall stop never ends the loop)
    v.kind = GraceVerdict::Kind::kCrashed;
    v.crash = crash ? *crash : Crash{"future", end->sig, 0, "", ""};
    v.detail = "it was killed by " + sys::signal_name(end->sig);
    if (crash && crashed_thread != future.pid())
      v.detail += " (in its thread " + std::to_string(crashed_thread) + ", at " +
                  (crash->symbol.empty() ? std::string("an unknown place") : crash->symbol) + ")";
  }
  out.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (!end) {
    try {
      let_go_of_threads(future.task(), q.threads, on_syscall, on_signal);
    } catch (const inject::TraceeDied&) {  // F ended just now: judge() finds it gone
    }
  }
  use.finish();
  if (!end) v = judge(future, q, hung);
  static const char* const names[] = {"healthy", "crashed", "exited", "hung"};
  out.verdict = names[static_cast<int>(v.kind)];
  out.health = v.detail;
  return v;
}

}  // namespace ttst::supervisor
