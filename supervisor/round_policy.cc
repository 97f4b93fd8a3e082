// round_policy.cc — see round_policy.h.
#include "supervisor/round_policy.h"

namespace ttst::supervisor {

bool worth_another_round(const RoundPolicy& policy, int rounds, uint64_t written, uint64_t written_before) {
  if (rounds >= policy.max_rounds || written < policy.min_written) return false;
  if (policy.must_shrink && rounds > 0 && written * 5 > written_before * 4) return false;
  return true;
}

}  // namespace ttst::supervisor
