// agent_tasks_test — the agent the supervisor ships holds the state-transfer tasks
// and nothing else (issue 12: no test task reachable in production), while the test
// agent holds every test task. Read from the task table the linker built in each
// agent ELF (inject/agent/tasks.h).
#include <doctest/doctest.h>

#include <set>
#include <span>
#include <string>

#include "inject/agent/agent_abi.h"
#include "inject/agent/agent_blob.h"
#include "inject/agent_image.h"
#include "inject/testing_agent.h"

using ttst::inject::AgentImage;

namespace {

std::set<uint32_t> ids(const AgentImage& image) {
  std::set<uint32_t> out;
  for (const AgentImage::Task& t : image.tasks()) {
    MESSAGE("task " << t.id << " " << t.function);
    out.insert(t.id);
  }
  return out;
}

}  // namespace

TEST_CASE("the shipped agent's task table holds the transfer tasks only") {
  const AgentImage& shipped = AgentImage::embedded();
  CHECK(ids(shipped) ==
        std::set<uint32_t>{TTST_AGENT_TASK_STFW_FORWARD, TTST_AGENT_TASK_STFW_BACKWARD, TTST_AGENT_TASK_STFW_DELTA});
  for (const AgentImage::Task& t : shipped.tasks())
    CHECK(t.function.find(t.id == TTST_AGENT_TASK_STFW_FORWARD    ? "task_stfw_forward"
                          : t.id == TTST_AGENT_TASK_STFW_BACKWARD ? "task_stfw_backward"
                                                                  : "task_stfw_delta") != std::string::npos);
  // Nor is any test task's code linked in: its name is not in the ELF's symbols.
  std::span<const unsigned char> elf = ttst::inject::agent_elf();
  const std::string bytes(elf.begin(), elf.end());
  CHECK(bytes.find("task_stfw_forward") != std::string::npos);  // the search works
  for (const char* fn : {"task_null_deref", "task_empty", "task_infinite_loop", "task_fork", "task_stfw_backward_lossy",
                         "task_stfw_delta_lossy"})
    CHECK_MESSAGE(bytes.find(fn) == std::string::npos, fn);
}

TEST_CASE("the test agent holds every test task beside the transfer tasks") {
  std::set<uint32_t> test = ids(ttst::inject::testing_agent());
  for (uint32_t id = TTST_AGENT_TASK_EMPTY; id < TTST_AGENT_TASK_COUNT_BUILTIN; ++id) CHECK(test.count(id) == 1);
  CHECK(test.count(TTST_AGENT_TASK_STFW_FORWARD) == 1);
  CHECK(test.count(TTST_AGENT_TASK_STFW_BACKWARD) == 1);
  CHECK(test.count(TTST_AGENT_TASK_STFW_DELTA) == 1);
  CHECK(test.count(TTST_AGENT_TASK_STFW_BACKWARD_LOSSY) == 1);
  CHECK(test.count(TTST_AGENT_TASK_STFW_DELTA_LOSSY) == 1);
}
