// process_factory.cc — see process_factory.h.
#include "inject/process_factory.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <spdlog/spdlog.h>

#include "inject/error.h"
#include "inject/memory.h"
#include "inject/remote_syscalls.h"
#include "inject/steps.h"
#include "inject/sys/proc_entries.h"

namespace ttst::inject {
namespace {

std::vector<std::string> read_nul_list(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InjectError("cannot read " + path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < all.size()) {
    size_t end = all.find('\0', pos);
    if (end == std::string::npos) end = all.size();
    out.push_back(all.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// Restores the source's ptrace options (P's: kOptionsPast) even when the clone throws.
struct OptionsGuard {
  Task& t;
  unsigned options;
  ~OptionsGuard() {
    try {
      if (t.attached()) t.set_options(options);
    } catch (const std::exception& e) {
      spdlog::error("inject: resetting ptrace options of {}: {}", t.tid(), e.what());
    }
  }
};

// Kills the traced intermediate and waits until it is dead (a zombie for P).
void kill_intermediate(Task& it) {
  if (!it.attached()) return;
  ::kill(it.tid(), SIGKILL);
  while (it.attached()) {
    Stop s = it.wait(milliseconds(5000), "the intermediate's death");
    if (s.alive()) it.resume(PTRACE_CONT);
  }
}

// The double fork described in the header, inside one fail-safe scope of P that
// spans it all: from the clone until the reap, a P released by a dying supervisor
// waits for the intermediate (which then dies: untraced it exits at once, traced
// it has EXITKILL) and reaps it before going home. Returns the traced grandchild.
ChildProcess fork_child(Task& past, milliseconds timeout, unsigned source_options) {
  RemoteSyscalls rs(past, timeout, IfReleased::kResumes);
  pid_t inter = 0;
  {
    past.set_options(source_options | PTRACE_O_TRACECLONE);
    OptionsGuard guard{past, source_options};
    // Nothing shared, exit signal 0 (P gets no SIGCHLD); the child's stack is the
    // frame that makes it exit if it ever runs untraced.
    auto r = rs.clone_reaped(0);
    if (r.ret < 0)
      throw InjectError(std::string("remote clone in the past process failed: ") +
                        std::strerror(static_cast<int>(-r.ret)));
    inter = r.new_child ? r.new_child : static_cast<pid_t>(r.ret);
  }
  step("fork.intermediate_created", inter);
  std::optional<Task> it;
  std::optional<ChildProcess> child;
  pid_t child_pid = 0;
  try {
    it.emplace(Task::adopt(inter, timeout));
    it->set_options(options_child() | PTRACE_O_TRACEFORK);
    step("fork.intermediate_adopted", inter);
    {
      RemoteSyscalls ri(*it, timeout);
      auto r = ri.call(SYS_clone, {SIGCHLD, 0, 0, 0, 0, 0});
      ri.abandon();
      if (r.ret < 0 || !r.new_child)
        throw InjectError(std::string("remote clone in the intermediate process failed: ") +
                          std::strerror(static_cast<int>(-r.ret)));
      child_pid = r.new_child;
    }
    child.emplace(Task::adopt(child_pid, timeout));
    child->task().set_options(options_child());
    // The child copied P's stack while the fail-safe frames were on it.
    write_memory(child_pid, rs.scratch().start, rs.scratch_original());
    step("fork.child_created", child_pid);
    kill_intermediate(*it);
    step("fork.intermediate_dead", inter);
    rs.reap(inter);
  } catch (...) {
    // Leave nothing behind: the grandchild (if any) and the intermediate die, P
    // reaps the intermediate.
    if (child_pid && !child) {
      ::kill(child_pid, SIGKILL);
      waitpid(child_pid, nullptr, __WALL);
    }
    child.reset();
    try {
      if (it) {
        kill_intermediate(*it);
      } else {  // auto-attached to us: its death is ours to see before P can reap it
        ::kill(inter, SIGKILL);
        waitpid(inter, nullptr, __WALL);
      }
      rs.reap(inter);
    } catch (const std::exception& e) {
      spdlog::error("inject: cleaning up the intermediate child {}: {}", inter, e.what());
    }
    throw;
  }
  rs.restore();
  step("fork.intermediate_reaped", inter);
  return std::move(*child);
}

}  // namespace

ChildProcess::~ChildProcess() {
  try {
    kill();
  } catch (const std::exception& e) {
    spdlog::error("inject: killing child {}: {}", task_.tid(), e.what());
  }
}

void ChildProcess::kill() {
  if (!task_.attached()) return;
  ::kill(task_.tid(), SIGKILL);
  for (;;) {
    auto s = task_.wait_for(milliseconds(5000));
    if (!s) throw InjectError("child " + std::to_string(task_.tid()) + " did not die after SIGKILL");
    if (!s->alive()) break;
  }
  task_.forget();
}

ChildProcess create_reversed(Task& past, milliseconds timeout, unsigned source_options) {
  Registers saved = Registers::capture(past);
  ChildProcess r = fork_child(past, timeout, source_options);
  saved.apply(r.task());
  step("reversed.ready", r.pid());
  return r;
}

ChildProcess create_future(Task& past, const FutureSpec& spec, milliseconds timeout, unsigned source_options) {
  if (spec.exe.empty() || spec.exe[0] != '/')
    throw InjectError("the future version's path must be absolute: '" + spec.exe + "'");
  pid_t ppid = past.tid();
  uint64_t past_mask = past.get_sigmask();
  std::vector<std::string> argv =
      spec.argv.empty() ? read_nul_list("/proc/" + std::to_string(ppid) + "/cmdline") : spec.argv;
  // argv[0] names the program run, as a shell would give it: `ps` shows v2 after a
  // commit, and v2 re-executing itself runs v2 (the engine maps argv[0] pointers by part).
  if (spec.argv.empty() && !argv.empty()) argv[0] = spec.exe;
  std::vector<std::string> env;
  std::string marker = std::string(kFutureEnvVar) + "=";
  for (auto& e : read_nul_list("/proc/" + std::to_string(ppid) + "/environ"))
    if (e.rfind(marker, 0) != 0) env.push_back(e);
  env.push_back(marker + kFutureEnvValue);
  for (auto& e : spec.extra_env) env.push_back(e);

  ChildProcess f = fork_child(past, timeout, source_options);
  pid_t fpid = f.pid();
  {
    RemoteSyscalls rs(f.task(), timeout);
    std::optional<std::vector<int>> fds = spec.fds ? spec.fds : sys::open_fds(fpid);
    if (!fds) throw InjectError("cannot list /proc/" + std::to_string(fpid) + "/fd");
    for (int fd : *fds) {
      int64_t flags = rs.call(SYS_fcntl, {static_cast<uint64_t>(fd), F_GETFD, 0, 0, 0, 0}).ret;
      if (flags < 0) {
        if (spec.fds)
          throw InjectError("descriptor " + std::to_string(fd) + " to inherit is not open in the past process");
        continue;
      }
      if (flags & FD_CLOEXEC)
        rs.call_checked("fcntl(F_SETFD)", SYS_fcntl,
                        {static_cast<uint64_t>(fd), F_SETFD,
                         static_cast<uint64_t>(flags & ~FD_CLOEXEC), 0, 0, 0});
    }
    step("future.fds_inheritable", fpid);

    // Strings then pointer arrays, in one scratch mapping of F (gone at exec).
    std::vector<uint8_t> block;
    auto add_string = [&block](const std::string& s) {
      size_t off = block.size();
      block.insert(block.end(), s.begin(), s.end());
      block.push_back(0);
      return off;
    };
    size_t path_off = add_string(spec.exe);
    std::vector<size_t> arg_offs, env_offs;
    for (auto& a : argv) arg_offs.push_back(add_string(a));
    for (auto& e : env) env_offs.push_back(add_string(e));
    while (block.size() % 8) block.push_back(0);
    size_t ptr_off = block.size();
    size_t size = ptr_off + 8 * (arg_offs.size() + env_offs.size() + 2);
    size_t map_size = (size + 4095) & ~size_t{4095};
    uint64_t scratch = static_cast<uint64_t>(rs.call_checked(
        "mmap", SYS_mmap, {0, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           static_cast<uint64_t>(-1), 0}));
    auto put_ptr = [&block](uint64_t v) {
      for (int i = 0; i < 8; ++i) block.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    for (size_t o : arg_offs) put_ptr(scratch + o);
    put_ptr(0);
    size_t envp_off = ptr_off + 8 * (arg_offs.size() + 1);
    for (size_t o : env_offs) put_ptr(scratch + o);
    put_ptr(0);
    write_memory(fpid, scratch, block);

    // v2 starts with P's signal mask, as after a fork and exec in P itself.
    f.task().set_sigmask(past_mask);
    auto r = rs.call(SYS_execve, {scratch + path_off, scratch + ptr_off, scratch + envp_off, 0, 0, 0});
    if (!r.exec_happened || r.ret != 0) {
      throw ExecFailed("execve of " + spec.exe + " in the future process failed: " +
                           std::strerror(static_cast<int>(-r.ret)),
                       static_cast<int>(-r.ret));
    }
    rs.abandon();  // a new program: nothing of the old context to restore
  }
  step("future.exec_done", fpid);
  return f;
}

}  // namespace ttst::inject
