// round_policy.h — pre-copy's rounds on the delta (issue 15): at a stop after a
// round, is another round worth its short stop, or should this stop transfer what P
// wrote? TRUSTED only for time: a wrong answer costs a longer stall or more rounds,
// never state (every round and the final stop are validated alike).
//
// What a stop transfers again is what P wrote while the round before it ran, and
// the next round's length follows from that. Rounds converge only while each is
// shorter than the one before: the writes they catch up with then shrink too. So
// rounds go on while P wrote enough to be worth one and the last round took a
// fifth less time at least than the one before it (stage 1's round for the first),
// up to a bound on their number. Pages written would be the direct measure, but
// under writes spread over the heap they saturate (a page written twice counts
// once) while the objects to transfer again do not.
#pragma once

#include <chrono>
#include <cstdint>

namespace ttst::supervisor {

struct RoundPolicy {
  uint64_t min_written = 2048;  // pages: below this the final stop's second runs take ~0.1 s
  int max_rounds = 8;
  bool must_shrink = true;      // false: a round whenever P wrote min_written (tests force rounds)
};

// `rounds` on the delta run so far; `written`: the pages P wrote since the last
// snapshot (its minor faults: each first write to a page it shares with the
// snapshot faults once); `last`: how long P served since that snapshot (the round
// just run); `before`: the same for the round before it (zero at the first decision).
bool worth_another_round(const RoundPolicy& policy, int rounds, uint64_t written, std::chrono::milliseconds last,
                         std::chrono::milliseconds before);

}  // namespace ttst::supervisor
