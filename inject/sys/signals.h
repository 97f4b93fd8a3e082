// signals.h — what the host says about signals: their names, and which ones are
// faults.
// Why: a crash is classified in the agent session (the agent's process) and in the
// transaction (v2 starting up), and reported by the report; they must agree on
// what a fault is and on how a signal is spelled.
#pragma once

#include <span>
#include <string>

namespace ttst::sys {

// "SIGSEGV"; "signal 77" for a number without a name.
std::string signal_name(int sig);

// The synchronous fault signals: the kernel raises them at the faulting
// instruction (bad memory access SIGSEGV/SIGBUS, invalid or privileged opcode
// SIGILL, arithmetic SIGFPE, int3 or single-step SIGTRAP, a syscall refused by a
// seccomp filter SIGSYS). For each, a kernel-sent siginfo (si_code > 0) carries
// the address of the fault in si_addr (SIGSYS: the syscall's address). They must
// stay unblocked while code we run can fault: for a blocked one the kernel first
// resets the handler to the default (changing the process) and then delivers it.
std::span<const int> fault_signals();
bool is_fault_signal(int sig);

// A signal that means the program crashed: a fault, or SIGABRT — abort() and a
// failed assert(), the program reporting its own crash. SIGABRT is not a fault
// (nothing faulted; si_addr means nothing), so it is not in fault_signals().
bool is_crash_signal(int sig);

}  // namespace ttst::sys
