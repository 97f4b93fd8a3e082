// round_policy_test — when pre-copy runs another round on the delta
// (round_policy.h): only while P wrote enough and the rounds shrink what it writes.
#include <doctest/doctest.h>

#include "supervisor/round_policy.h"

using ttst::supervisor::RoundPolicy;
using ttst::supervisor::worth_another_round;

TEST_CASE("the first round: whenever P wrote enough pages since the snapshot") {
  const RoundPolicy p;
  CHECK(worth_another_round(p, 0, 24000, 0));
  CHECK(worth_another_round(p, 0, 2048, 0));
  CHECK_FALSE(worth_another_round(p, 0, 2047, 0));
  CHECK_FALSE(worth_another_round(p, 0, 0, 0));
}

TEST_CASE("later rounds: only while each shrinks what P writes by a fifth") {
  const RoundPolicy p;
  CHECK(worth_another_round(p, 1, 14000, 24000));
  CHECK(worth_another_round(p, 2, 8000, 10000));       // exactly four fifths
  CHECK_FALSE(worth_another_round(p, 2, 8001, 10000));  // less than a fifth smaller
  CHECK_FALSE(worth_another_round(p, 3, 12000, 10000)); // P writes faster than rounds catch up
  CHECK_FALSE(worth_another_round(p, 3, 1500, 9000));   // small enough for the final stop
}

TEST_CASE("never more than max_rounds") {
  const RoundPolicy p;
  CHECK(worth_another_round(p, 7, 4000, 10000));
  CHECK_FALSE(worth_another_round(p, 8, 4000, 10000));
}

TEST_CASE("a policy without shrinking (forced rounds): rounds while P writes, up to the bound") {
  const RoundPolicy p{1, 3, false};
  CHECK(worth_another_round(p, 1, 5, 5));
  CHECK(worth_another_round(p, 2, 9, 5));
  CHECK_FALSE(worth_another_round(p, 3, 9, 5));
  CHECK_FALSE(worth_another_round(p, 1, 0, 5));
}
