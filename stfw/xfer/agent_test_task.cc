// agent_test_task.cc — TEST ONLY: TTST_AGENT_TASK_STFW_BACKWARD_LOSSY, a backward
// transfer that "forgets" part of one write, as a buggy transfer would: the 32-bit
// member `count` of the global `table` ends up one less than P's; and
// TTST_AGENT_TASK_STFW_DELTA_LOSSY, pre-copy's second runs with the forward one
// forgetting the same in F. The supervisor tests of the state_diff rollback and
// of stage 2's diff select them through the test variant of ttst-supervise. Linked only into the test agent (//inject/agent:agent_testing),
// never into the agent the supervisor ships. Runs inside the agent (UNTRUSTED,
// freestanding).
#include "dwarfmeta/image.h"
#include "stfw/stfw_task.h"
#include "stfw/xfer/agent_output.h"

extern "C" {
#include "inject/agent/agent_abi.h"
#include "inject/agent/tasks.h"
}

namespace {

// `table.count` of this process one less than the transfer wrote.
int64_t lose_table_count(ttst_agent_desc* d, uint64_t bias) {
  ttst::dwarfmeta::image::View self;
  const char* why = "";
  if (!ttst::dwarfmeta::image::View::open(reinterpret_cast<const void*>(d->meta_self.addr), d->meta_self.size, &self,
                                          &why))
    return TTST_STFW_STATUS_BAD_INPUT;
  const auto* g = self.global("table");
  const auto* m = g ? self.member(self.type(self.strip(g->type)), "count") : nullptr;
  if (!m) {
    ttst::stfw::put_output(d, "bad input: the lossy test transfer needs a global `table` with a member `count`");
    return TTST_STFW_STATUS_BAD_INPUT;
  }
  auto* count = reinterpret_cast<uint32_t*>(g->addr + bias + m->offset);
  *count -= 1;
  return TTST_STFW_STATUS_OK;
}

int64_t task_stfw_backward_lossy(ttst_agent_desc* d) {
  agent_task_fn backward = agent_find_task(TTST_AGENT_TASK_STFW_BACKWARD);
  if (!backward) return TTST_AGENT_STATUS_UNKNOWN_TASK;
  int64_t status = backward(d);
  if (status != TTST_STFW_STATUS_OK) return status;
  return lose_table_count(d, d->arg[TTST_STFW_ARG_SELF_BIAS]);
}

// Pre-copy's second runs, the forward one losing a write in F: the backward second
// run carries the loss into R, and the diff of P against R must show it.
int64_t task_stfw_delta_lossy(ttst_agent_desc* d) {
  agent_task_fn delta = agent_find_task(TTST_AGENT_TASK_STFW_DELTA);
  if (!delta) return TTST_AGENT_STATUS_UNKNOWN_TASK;
  int64_t status = delta(d);
  if (status != TTST_STFW_STATUS_OK || d->mode != TTST_AGENT_MODE_FORWARD) return status;
  return lose_table_count(d, d->arg[TTST_STFW_DELTA_ARG_SELF_BIAS]);
}

}  // namespace

AGENT_TASK(TTST_AGENT_TASK_STFW_BACKWARD_LOSSY, task_stfw_backward_lossy);
AGENT_TASK(TTST_AGENT_TASK_STFW_DELTA_LOSSY, task_stfw_delta_lossy);
