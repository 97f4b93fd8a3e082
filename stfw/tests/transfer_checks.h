// transfer_checks.h — the doctest checks the transfer tests on real processes share
// (roundtrip_test, annotation_xfer_test, library_symbol_test): a transfer that
// succeeded, a backward transfer that restores the past (R == P), and a refusal
// (its status and the first line of its message). The refused states are tables of
// Refusals run by for_each_case: one SUBCASE per row, so a failure names its case.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "inject/agent_session.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/xfer_fixture.h"

namespace ttst::stfw::testing {

struct Refusal {
  int status;                              // TTST_STFW_STATUS_*
  const char* message = nullptr;           // the whole line, when it is fixed
  const char* starts_with = nullptr;       // else how it starts (NULL: not checked)
  std::vector<const char*> contains = {};  // and what it says further on
  const char* fix = nullptr;               // the advised line the message ends with, "; fix: ..." (part of it)
};

// A refusal's message without its advised fix ("; fix: ...", stfw/xfer/refusal_advice.cc).
inline std::string without_fix(const std::string& m) { return m.substr(0, m.rfind(TTST_STFW_FIX_MARKER)); }
// Its advised fix ("" when none).
inline std::string fix_of(const std::string& m) {
  const size_t at = m.rfind(TTST_STFW_FIX_MARKER);
  return at == std::string::npos ? "" : m.substr(at + std::string(TTST_STFW_FIX_MARKER).size());
}

// The agent finished and refused with `want`'s status and message.
inline void check_refusal(const inject::AgentOutcome& outcome, const Refusal& want) {
  REQUIRE(outcome.kind == inject::AgentOutcome::Kind::kFinished);
  CHECK(outcome.status == want.status);
  std::string m = message(outcome);
  INFO(m);
  if (want.message) CHECK(without_fix(m) == std::string(want.message));
  if (want.starts_with) CHECK(m.find(want.starts_with) == 0);
  for (const char* part : want.contains) CHECK(m.find(part) != std::string::npos);
  if (want.fix) CHECK(fix_of(m).find(want.fix) != std::string::npos);
}

// The agent finished with TTST_STFW_STATUS_OK (else its outcome and message).
inline void require_transferred(const inject::AgentOutcome& outcome) {
  INFO(outcome.describe(), " / ", message(outcome));
  REQUIRE(outcome.kind == inject::AgentOutcome::Kind::kFinished);
  REQUIRE(outcome.status == TTST_STFW_STATUS_OK);
}

// After a forward transfer: the backward one succeeds and R == P byte for byte.
inline void check_backward_restores_past(RoundTrip& rt) {
  require_transferred(rt.backward());
  std::string diff = rt.compare();
  CHECK_MESSAGE(diff.empty(), diff);
}

// Runs `run(row)` for each row of a table (rows have a `name`) in a SUBCASE of that
// name, logging "case K of N: NAME" (shown in passing runs too: every case, the count).
template <class Row, size_t N, class Run>
void for_each_case(const Row (&rows)[N], Run&& run) {
  for (size_t i = 0; i < N; ++i) {
    SUBCASE(rows[i].name) {
      MESSAGE("case ", i + 1, " of ", N, ": ", std::string(rows[i].name));
      run(rows[i]);
    }
  }
}

}  // namespace ttst::stfw::testing
