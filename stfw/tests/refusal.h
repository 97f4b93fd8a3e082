// refusal.h — what a refused transfer must report (its status and the first line
// of its message), and the doctest check of an agent run against it. The tests of
// refused states (roundtrip_test, annotation_xfer_test, library_symbol_test) are
// tables of these, one SUBCASE per row, so a failure names its case.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "inject/agent_session.h"
#include "stfw/tests/xfer_fixture.h"

namespace ttst::stfw::testing {

struct Refusal {
  int status;                              // TTST_STFW_STATUS_*
  const char* message = nullptr;           // the whole line, when it is fixed
  const char* starts_with = nullptr;       // else how it starts (NULL: not checked)
  std::vector<const char*> contains = {};  // and what it says further on
};

// The agent finished and refused with `want`'s status and message.
inline void check_refusal(const inject::AgentOutcome& outcome, const Refusal& want) {
  REQUIRE(outcome.kind == inject::AgentOutcome::Kind::kFinished);
  CHECK(outcome.status == want.status);
  std::string m = message(outcome);
  INFO(m);
  if (want.message) CHECK(m == std::string(want.message));
  if (want.starts_with) CHECK(m.find(want.starts_with) == 0);
  for (const char* part : want.contains) CHECK(m.find(part) != std::string::npos);
}

// Logs "case K of N: NAME" (shown in passing runs too: every case and the count).
inline void announce_case(size_t index, size_t count, const char* name) {
  MESSAGE("case ", index + 1, " of ", count, ": ", std::string(name));
}

}  // namespace ttst::stfw::testing
