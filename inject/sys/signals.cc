// signals.cc — see signals.h.
#include "inject/sys/signals.h"

#include <signal.h>
#include <string.h>

#include <algorithm>

namespace ttst::sys {
namespace {

constexpr int kFaultSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS};

}  // namespace

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::span<const int> fault_signals() { return kFaultSignals; }

bool is_fault_signal(int sig) {
  return std::find(std::begin(kFaultSignals), std::end(kFaultSignals), sig) != std::end(kFaultSignals);
}

bool is_crash_signal(int sig) { return is_fault_signal(sig) || sig == SIGABRT; }

}  // namespace ttst::sys
