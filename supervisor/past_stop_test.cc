// past_stop_test.cc — the "P stopped" scope (past_stop.h): a stop's length is
// kept as the attempt's stall only when it is the longest, ending it twice or by
// the destructor counts it once, and a later short stop does not shorten the stall.
#include "supervisor/past_stop.h"

#include <thread>

#include <doctest/doctest.h>

using ttst::supervisor::PastStop;

static void stopped_for(std::chrono::milliseconds d) {
  // A stop's length is what the clock says; the assertions below compare lengths
  // with each other and with this lower bound, never with an upper bound.
  std::this_thread::sleep_for(d);
}

TEST_CASE("the longest stop is the stall; end() is idempotent; the destructor ends a stop") {
  double stall = 0;
  double first = 0;
  {
    PastStop s(stall);
    stopped_for(std::chrono::milliseconds(30));
    first = s.end();
    CHECK(first >= 30);
    CHECK(stall == first);
    stopped_for(std::chrono::milliseconds(5));
    CHECK(s.end() == first);         // ended once
    CHECK(s.elapsed_ms() == first);  // frozen after the end
  }
  CHECK(stall == first);
  {
    PastStop s(stall);  // a second, shorter stop, ended by the destructor
    CHECK(s.elapsed_ms() < first);
  }
  CHECK(stall == first);  // the shorter stop did not replace the longest
  {
    PastStop s(stall);
    stopped_for(std::chrono::milliseconds(static_cast<int>(first) + 20));
  }
  CHECK(stall > first);  // a longer one did, through the destructor
}
