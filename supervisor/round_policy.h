// round_policy.h — pre-copy's rounds on the delta (issue 15): at a stop after a
// round, is another round worth its short stop, or should this stop transfer what P
// wrote? TRUSTED only for time: a wrong answer costs a longer stall or more rounds,
// never state (every round and the final stop are validated alike).
//
// A round converges only while it takes less time than the writes it catches up
// with: P's pages written during a round are what the next round (or the final
// stop) transfers again. So rounds go on while P wrote enough to be worth one and
// each round shrank that by a fifth at least, up to a bound on their number.
#pragma once

#include <cstdint>

namespace ttst::supervisor {

struct RoundPolicy {
  uint64_t min_written = 2048;  // pages: below this the final stop's second runs take ~0.1 s
  int max_rounds = 8;
  bool must_shrink = true;      // false: a round whenever P wrote min_written (tests force rounds)
};

// `rounds` run so far; `written`: the pages P wrote since the last snapshot (its
// minor faults: each first write to a page it shares with the snapshot faults once);
// `written_before`: the same at the stop before this one's round began (0 for the
// first decision).
bool worth_another_round(const RoundPolicy& policy, int rounds, uint64_t written, uint64_t written_before);

}  // namespace ttst::supervisor
