// round_policy.cc — see round_policy.h.
#include "supervisor/round_policy.h"

namespace ttst::supervisor {

bool worth_another_round(const RoundPolicy& policy, int rounds, uint64_t written, std::chrono::milliseconds last,
                         std::chrono::milliseconds before) {
  if (rounds >= policy.max_rounds || written < policy.min_written) return false;
  if (policy.must_shrink && rounds > 0 && last.count() * 5 > before.count() * 4) return false;
  return true;
}

}  // namespace ttst::supervisor
