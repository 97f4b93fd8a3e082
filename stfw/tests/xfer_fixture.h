// xfer_fixture.h — drives a real round trip for the stfw tests and benchmark:
// P (v1, running, stopped quiescent in its sleep), R = create_reversed(P),
// F = create_future(P, v2) run to its update point (ttst_abi.h §5), the forward
// transfer in F, the backward transfer in R, then P and R compared with //diff.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "inject/agent_session.h"
#include "inject/process.h"
#include "inject/process_factory.h"

namespace ttst::stfw::testing {

// Link-time → run-time offset of the executable of `pid` (from /proc/PID/maps).
uint64_t exe_bias(pid_t pid);
// Runs a freshly exec'd future version to the syscall-entry stop of its first
// update point's marker system call (ttst_abi.h §4/§5), or, for programs without
// update points (or_sleep), to the entry of its first sleep.
void run_to_marker(inject::Task& t, bool or_sleep = false);
// The first line of an agent run's output (the transfer's message or figures).
std::string message(const inject::AgentOutcome& o);
// The metadata image of a binary.
std::vector<uint8_t> image_of(const std::string& path);

struct RoundTrip {
  std::string v1, v2;  // absolute paths
  std::vector<std::string> args;
  std::vector<std::string> future_args;  // F's argv; empty: P's (as the supervisor does)
  std::function<void()> before_future;    // runs once P is seized, before F is created
  pid_t p = -1;
  int p_out = -1, p_in = -1;
  std::optional<inject::SeizedProcess> ps;
  std::optional<inject::ChildProcess> r, f;
  std::vector<uint8_t> img1, img2;
  uint64_t heap_size = 64 << 20;
  uint32_t helpers = 0;  // the agents' helper threads (inject/agent/helper.h), as the supervisor allows one
  pid_t released_f = -1;
  bool future_stops_at_sleep = false;
  bool says_ready = true;  // P prints "ready" once its state is built  // v2 has no TTST_UPDATE_POINT (tests/programs/listing2)

  // Starts P with args, waits for "ready" and for it to sleep, seizes it, creates R and F.
  void start();
  inject::AgentOutcome forward();   // in F, peer P
  inject::AgentOutcome backward();  // in R, peer F
  // "" when P and R are equal byte for byte, else the differ's report.
  std::string compare();
  // Lets F run on (updating cleared) and returns the line it prints.
  std::string release_future();
  ~RoundTrip();
};

}  // namespace ttst::stfw::testing
