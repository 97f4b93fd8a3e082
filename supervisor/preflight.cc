// preflight.cc — see preflight.h.
#include "supervisor/preflight.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "dwarfmeta/cache.h"
#include "dwarfmeta/error.h"
#include "supervisor/identity.h"

namespace ttst::supervisor {
namespace fs = std::filesystem;

int thread_count(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

pid_t tracer_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("TracerPid:", 0) == 0) return static_cast<pid_t>(std::stol(line.substr(10)));
  return 0;
}

namespace {

dwarfmeta::Program load_binary(const std::string& path, const std::string& who) {
  try {
    return dwarfmeta::load_cached(path);
  } catch (const dwarfmeta::Error& e) {
    std::string advice;
    switch (e.kind()) {
      case dwarfmeta::ErrorKind::NotElf:
      case dwarfmeta::ErrorKind::NotX86_64:
        advice = "give an x86-64 ELF executable built with ttst-cc";
        break;
      case dwarfmeta::ErrorKind::NoDwarf:
        advice = "rebuild " + who + " with ttst-cc (it keeps -g), or install its debug info";
        break;
      default:
        advice = "check the file " + path;
    }
    throw Refusal(who + " (" + path + "): " + e.what(), advice);
  }
}

}  // namespace

Preflight preflight(pid_t pid, const std::string& new_path, bool have_xfer, bool allow_different_program) {
  Preflight pf;
  const std::string proc = "/proc/" + std::to_string(pid);
  try {  // P pinned from the first check to the end (process_pin.h)
    pf.pin = ProcessPin::open(pid);
  } catch (const std::runtime_error& e) {
    throw Refusal(e.what(), "check the pid (ps, the service's pid file)");
  }
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH) || !fs::exists(proc))
    throw Refusal("no process with pid " + std::to_string(pid), "check the pid (ps, the service's pid file)");
  {
    std::ifstream st(proc + "/status");
    std::string line;
    while (std::getline(st, line))
      if (line.rfind("State:", 0) == 0 && (line.find("Z (zombie)") != std::string::npos ||
                                            line.find("X (dead)") != std::string::npos))
        throw Refusal("pid " + std::to_string(pid) + " has exited (it is a zombie)",
                      "check the pid; the program is no longer running");
  }
  if (::kill(pid, 0) != 0 && errno == EPERM)
    throw Refusal("not allowed to trace pid " + std::to_string(pid) + " (it belongs to another user)",
                  "run ttst-supervise as root or as the program's user");
  if (pid_t t = tracer_of(pid); t != 0)
    throw Refusal("pid " + std::to_string(pid) + " is already traced by pid " + std::to_string(t) +
                      " (a debugger or another ttst-supervise)",
                  "detach the other tracer and try again");
  if (int n = thread_count(pid); n > 1)
    throw Refusal("pid " + std::to_string(pid) + " has " + std::to_string(n) +
                      " threads: multi-threaded programs are not supported yet",
                  "update a single-threaded program, or restart this one");

  pf.old_exe = proc + "/exe";
  std::error_code ec;
  if (fs::read_symlink(pf.old_exe, ec).empty() && ec)
    throw Refusal("cannot read " + pf.old_exe + ": " + ec.message(),
                  "run ttst-supervise as root or as the program's user");

  // v2 first: the cheap checks on the user's input.
  if (new_path.empty()) throw Refusal("no new version given", "pass --new PATH");
  fs::path np = fs::absolute(new_path, ec);
  pf.new_exe = np.lexically_normal().string();
  if (!fs::exists(np, ec))
    throw Refusal("new version " + new_path + " does not exist", "check the path given to --new");
  if (!fs::is_regular_file(np, ec))
    throw Refusal("new version " + new_path + " is not a regular file", "give the new executable to --new");
  if (::access(pf.new_exe.c_str(), X_OK) != 0)
    throw Refusal("new version " + new_path + " is not executable (" + std::strerror(errno) + ")",
                  "chmod +x it, or give the right file");

  auto t0 = std::chrono::steady_clock::now();
  pf.v1 = load_binary(pf.old_exe, "the running program");
  if (pf.v1.runtime_addr == 0)
    throw Refusal("pid " + std::to_string(pid) + " was not built with ttst-cc (no __ttst_runtime)",
                  "rebuild the program with ttst-cc and restart it once");
  pf.v2 = load_binary(pf.new_exe, "the new version");
  if (pf.v2.runtime_addr == 0)
    throw Refusal("new version " + new_path + " was not built with ttst-cc (no __ttst_runtime)",
                  "build the new version with ttst-cc");
  if (Identity id = compare_identity(pf.v1, pf.v2); !id.same && !allow_different_program)  // identity.h
    throw Refusal(id.message, "check the path given to --new; if it really is to replace this program, pass "
                              "--allow-different-program");
  pf.plan = dwarfmeta::make_plan(pf.v1, pf.v2);
  pf.plan_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (pf.plan.needs_user_code() && !have_xfer) {
    std::vector<std::string> ids;
    std::string list;
    for (const auto& o : pf.plan.objects)
      if (o.kind == dwarfmeta::ObjectKind::Semantic) {
        ids.push_back(o.id);
        list += (list.empty() ? "" : ", ") + o.id;
      }
    throw Refusal("the update needs user transfer code for: " + list,
                  "annotate these objects in the new version (TTST_NO_TRANSFER keeps its own value, TTST_IXFER / "
                  "TTST_PXFER copy or translate; see ttst.h and ttst-meta plan): user transfer code (--xfer) is not "
                  "supported yet",
                  ids);
  }
  if (std::string why; !pf.pin.same_process(&why))
    throw Refusal(why + " while it was being checked", "check the pid and try again");
  return pf;
}

}  // namespace ttst::supervisor
