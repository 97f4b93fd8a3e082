// preflight.h — every check ttst-supervise makes BEFORE touching the running
// program P (no ptrace, no write): the pid exists, may be traced, is a single-threaded
// program built with ttst-cc; v2 is an executable x86-64 ELF with DWARF built with
// ttst-cc; the plan needs no user transfer code that was not given. A failed check is
// a Refusal (exit 2) whose message says what happened and what to do. TRUSTED.
#pragma once

#include <sys/types.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "dwarfmeta/model.h"
#include "dwarfmeta/plan.h"
#include "supervisor/process_pin.h"

namespace ttst::supervisor {

// A request refused before P was touched.
class Refusal : public std::runtime_error {
 public:
  Refusal(const std::string& message, const std::string& advice,
          std::vector<std::string> needs_user_code = {})
      : std::runtime_error(message), advice_(advice), needs_user_code_(std::move(needs_user_code)) {}
  const std::string& advice() const { return advice_; }
  const std::vector<std::string>& needs_user_code() const { return needs_user_code_; }

 private:
  std::string advice_;
  std::vector<std::string> needs_user_code_;
};

struct Preflight {
  std::string old_exe;           // /proc/N/exe (works after the file was replaced)
  std::string new_exe;           // v2, absolute
  dwarfmeta::Program v1, v2;
  dwarfmeta::Plan plan;
  double plan_ms = 0;
  ProcessPin pin;                // P, pinned before the first check (process_pin.h)
};

// Throws Refusal. A v2 that is not a version of P (identity.h) is refused unless
// `allow_different_program`.
Preflight preflight(pid_t pid, const std::string& new_path, bool have_xfer, bool allow_different_program = false);

// Threads of `pid` (entries of /proc/PID/task); 0 when the process is gone.
int thread_count(pid_t pid);
// TracerPid of /proc/PID/status (0 when not traced).
pid_t tracer_of(pid_t pid);

}  // namespace ttst::supervisor
