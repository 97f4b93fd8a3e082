// preflight.h — every check ttst-supervise makes BEFORE touching the running
// program P (no ptrace, no write): the pid exists, may be traced, is a single-threaded
// program built with ttst-cc; v2 is an executable x86-64 ELF with DWARF built with
// ttst-cc; the transfer plan needs no user transfer code that was not given. A failed
// check is a Refusal (refusal.h: exit 2) whose message says what happened and what to
// do. What passed the checks (both executables, read once, and the transfer plan) is
// what every later phase of the update uses. TRUSTED.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "dwarfmeta/plan.h"
#include "supervisor/executable.h"
#include "supervisor/process_pin.h"
#include "supervisor/refusal.h"

namespace ttst::supervisor {

// The inputs of an update, checked.
struct CheckedInputs {
  Executable v1;                   // P's executable, read through /proc/N/exe
  Executable v2;                   // the new version (absolute path)
  dwarfmeta::Plan transfer_plan;   // what the transfer does with each object (make_plan)
  ProcessPin pin;                  // P, pinned before the first check (process_pin.h)
};

// Throws Refusal. A v2 that is not a version of P (identity.h) is refused unless
// `allow_different_program`.
// Stripped executables: their separate debug info is looked for under `debug_dirs`
// (dwarfmeta/debug_lookup.h).
CheckedInputs check_inputs(pid_t pid, const std::string& new_path, bool have_xfer,
                           bool allow_different_program = false,
                           const std::vector<std::string>& debug_dirs = {"/usr/lib/debug"});

}  // namespace ttst::supervisor
