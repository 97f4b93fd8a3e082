// preflight.cc — see preflight.h.
#include "supervisor/preflight.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "inject/sys/proc_entries.h"
#include "inject/sys/proc_status.h"
#include "supervisor/identity.h"

namespace ttst::supervisor {
namespace fs = std::filesystem;

namespace {

// The tracer of `pid`; 0 when not traced.
pid_t tracer_of(pid_t pid) {
  std::optional<sys::ProcStatus> st = sys::ProcStatus::read(pid);
  return st ? st->tracer_pid() : 0;
}

// P: it exists, is alive, may be traced, is not traced already.
void check_running_program(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH) || !fs::exists(proc))
    throw Refusal("no process with pid " + std::to_string(pid), "check the pid (ps, the service's pid file)");
  if (std::optional<sys::ProcStatus> st = sys::ProcStatus::read(pid); st && st->exited() && st->threads() > 1)
    throw Refusal("pid " + std::to_string(pid) + "'s main thread has ended (pthread_exit) while " +
                      std::to_string(st->threads() - 1) + " other thread(s) run: such a program cannot be updated yet",
                  "keep the program's main thread running (its loop with an update point)");
  if (std::optional<sys::ProcStatus> st = sys::ProcStatus::read(pid); st && st->exited())
    throw Refusal("pid " + std::to_string(pid) + " has exited (it is a zombie)",
                  "check the pid; the program is no longer running");
  if (::kill(pid, 0) != 0 && errno == EPERM)
    throw Refusal("not allowed to trace pid " + std::to_string(pid) + " (it belongs to another user)",
                  "run ttst-supervise as root or as the program's user");
  if (pid_t t = tracer_of(pid); t != 0)
    throw Refusal("pid " + std::to_string(pid) + " is already traced by pid " + std::to_string(t) +
                      " (a debugger or another ttst-supervise)",
                  "detach the other tracer and try again");
  // Several threads: seized, quiesced and, for now, refused after quiescence
  // (transaction.cc, refuse_threads).
}

// P's executable, /proc/N/exe: readable by us.
std::string running_executable(pid_t pid) {
  std::string exe = "/proc/" + std::to_string(pid) + "/exe";
  std::error_code ec;
  if (fs::read_symlink(exe, ec).empty() && ec)
    throw Refusal("cannot read " + exe + ": " + ec.message(), "run ttst-supervise as root or as the program's user");
  return exe;
}

// v2: given, exists, a regular executable file. Returns its absolute path.
std::string new_executable(const std::string& new_path) {
  if (new_path.empty()) throw Refusal("no new version given", "pass --new PATH");
  std::error_code ec;
  fs::path np = fs::absolute(new_path, ec);
  std::string exe = np.lexically_normal().string();
  if (!fs::exists(np, ec))
    throw Refusal("new version " + new_path + " does not exist", "check the path given to --new");
  if (!fs::is_regular_file(np, ec))
    throw Refusal("new version " + new_path + " is not a regular file", "give the new executable to --new");
  if (::access(exe.c_str(), X_OK) != 0)
    throw Refusal("new version " + new_path + " is not executable (" + std::strerror(errno) + ")",
                  "chmod +x it, or give the right file");
  return exe;
}

// Objects of the transfer plan that need user transfer code, refused without it.
void check_needs_user_code(const dwarfmeta::Plan& plan, bool have_xfer) {
  if (plan.needs_user_code() && !have_xfer) {
    std::vector<std::string> ids;
    std::string list, fixes;  // fixes: the plan's line per object, as the transfer's refusal words it
    for (const auto& o : plan.objects)
      if (o.kind == dwarfmeta::ObjectKind::Semantic) {
        ids.push_back(o.id);
        list += (list.empty() ? "" : ", ") + o.id;
        for (const std::string& fix : o.fixes) fixes += (fixes.empty() ? "" : "; ") + ("for " + o.id + ": " + fix);
      }
    if (!fixes.empty()) throw Refusal("the update needs user transfer code for: " + list, fixes, ids);
    throw Refusal("the update needs user transfer code for: " + list,
                  "write a transfer plugin (ttst-meta xfer-skeleton V1 V2 writes its skeleton; build it with "
                  "ttst-cc --xfer-plugin, pass it with --xfer) or annotate these objects in the new version "
                  "(TTST_NO_TRANSFER keeps its own value, TTST_IXFER / TTST_PXFER copy or translate; see ttst.h)",
                  ids);
  }
}

}  // namespace

CheckedInputs check_inputs(pid_t pid, const std::string& new_path, bool have_xfer, bool allow_different_program,
                           const std::vector<std::string>& debug_dirs) {
  ProcessPin pin;
  try {  // P pinned from the first check to the end (process_pin.h)
    pin = ProcessPin::open(pid);
  } catch (const std::runtime_error& e) {
    throw Refusal(e.what(), "check the pid (ps, the service's pid file)");
  }
  check_running_program(pid);
  const std::string old_exe = running_executable(pid);
  const std::string new_exe = new_executable(new_path);  // the cheap checks on the user's input first
  Executable v1 = Executable::load(old_exe, "the running program", debug_dirs);
  if (!v1.built_with_ttst())
    throw Refusal("pid " + std::to_string(pid) + " was not built with ttst-cc (no __ttst_runtime)",
                  "rebuild the program with ttst-cc and restart it once");
  Executable v2 = Executable::load(new_exe, "the new version", debug_dirs);
  if (!v2.built_with_ttst())
    throw Refusal("new version " + new_path + " was not built with ttst-cc (no __ttst_runtime)",
                  "build the new version with ttst-cc");
  if (v2.update_points().upoints().empty())
    throw Refusal("new version " + new_path + " has no update point (its binary holds no TTST_UPDATE_POINT())",
                  "add TTST_UPDATE_POINT() to its event loop and rebuild it with ttst-cc");
  if (Identity id = compare_identity(v1.program(), v2.program()); !id.same && !allow_different_program)
    throw Refusal(id.message, "check the path given to --new; if it really is to replace this program, pass "
                              "--allow-different-program");  // identity.h
  dwarfmeta::Plan plan = dwarfmeta::make_plan(v1.program(), v2.program());
  check_needs_user_code(plan, have_xfer);
  if (std::string why; !pin.same_process(&why))
    throw Refusal(why + " while it was being checked", "check the pid and try again");
  return CheckedInputs{std::move(v1), std::move(v2), std::move(plan), std::move(pin)};
}

}  // namespace ttst::supervisor
