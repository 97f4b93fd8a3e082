// future_startup.h — the startup phase: F, stopped right after execve, run to its
// first update point (the marker's syscall-entry stop, stfw/abi/ttst_abi.h §4/§5),
// every signal on the way delivered. A crash, an exit or the budget running out ends
// the transaction (rollback(), transaction_end.h) with a report that says where v2
// crashed (signal, fault address, instruction, function+offset from v2's DWARF).
// TRUSTED.
#pragma once

#include <chrono>

#include "inject/process_factory.h"
#include "supervisor/executable.h"

namespace ttst::supervisor {

void run_future_to_update_point(inject::ChildProcess& future, const Executable& v2,
                                std::chrono::milliseconds budget);

}  // namespace ttst::supervisor
