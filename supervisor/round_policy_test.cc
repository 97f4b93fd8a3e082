// round_policy_test — when pre-copy runs another round on the delta
// (round_policy.h): only while P wrote enough and each round is shorter than the
// one before by a fifth.
#include <doctest/doctest.h>

#include "supervisor/round_policy.h"

using std::chrono::milliseconds;
using ttst::supervisor::RoundPolicy;
using ttst::supervisor::worth_another_round;

TEST_CASE("the first round: whenever P wrote enough pages since the snapshot") {
  const RoundPolicy p;
  CHECK(worth_another_round(p, 0, 24000, milliseconds(3200), milliseconds(0)));
  CHECK(worth_another_round(p, 0, 2048, milliseconds(3200), milliseconds(0)));
  CHECK_FALSE(worth_another_round(p, 0, 2047, milliseconds(3200), milliseconds(0)));
  CHECK_FALSE(worth_another_round(p, 0, 0, milliseconds(3200), milliseconds(0)));
}

TEST_CASE("later rounds: only while each is a fifth shorter than the one before") {
  const RoundPolicy p;
  CHECK(worth_another_round(p, 1, 26000, milliseconds(1800), milliseconds(3200)));  // saturated pages, shorter round
  CHECK(worth_another_round(p, 2, 20000, milliseconds(800), milliseconds(1000)));    // exactly four fifths
  CHECK_FALSE(worth_another_round(p, 2, 20000, milliseconds(801), milliseconds(1000)));
  CHECK_FALSE(worth_another_round(p, 3, 30000, milliseconds(1200), milliseconds(1000)));  // P writes faster than rounds catch up
  CHECK_FALSE(worth_another_round(p, 3, 1500, milliseconds(300), milliseconds(1000)));   // small enough for the final stop
}

TEST_CASE("never more than max_rounds") {
  const RoundPolicy p;
  CHECK(worth_another_round(p, 7, 4000, milliseconds(100), milliseconds(1000)));
  CHECK_FALSE(worth_another_round(p, 8, 4000, milliseconds(100), milliseconds(1000)));
}

TEST_CASE("a policy without shrinking (forced rounds): rounds while P writes, up to the bound") {
  const RoundPolicy p{1, 3, false};
  CHECK(worth_another_round(p, 1, 5, milliseconds(900), milliseconds(100)));
  CHECK(worth_another_round(p, 2, 9, milliseconds(900), milliseconds(100)));
  CHECK_FALSE(worth_another_round(p, 3, 9, milliseconds(900), milliseconds(100)));
  CHECK_FALSE(worth_another_round(p, 1, 0, milliseconds(900), milliseconds(100)));
}
