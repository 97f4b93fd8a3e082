// ttst-supervise-testing — TEST ONLY: ttst-supervise with the test hooks of
// test_hooks.h, read from the environment, and the test agent (the shipped agent
// plus the test tasks, inject/testing_agent.h). Built testonly: never installed,
// never a dependency of the shipped ttst-supervise, which reads none of these
// variables.
//   TTST_SUPERVISE_TEST_FORWARD_TASK=<id>   the forward run uses agent task <id>
//   TTST_SUPERVISE_TEST_BACKWARD_TASK=<id>  the backward run uses agent task <id>
//   TTST_SUPERVISE_TEST_DELTA_TASK=<id>     pre-copy's second runs use agent task <id>
//   TTST_SUPERVISE_TEST_ROUND_FAULTS=<n>    pre-copy: a round on the delta once P wrote <n> pages (0: always)
//   TTST_SUPERVISE_TEST_AGENTS_READ=1       pre-copy: the second runs read the changed bytes themselves
//     (0 empty, 2 NULL dereference, 3 abort, 5 infinite loop, 9 sleep forever, 102 the backward
//     transfer with one lost write)
//   TTST_SUPERVISE_TEST_DIE_AT=<commit step>  SIGKILL itself at that commit step
//   TTST_SUPERVISE_TEST_BUG_IN=<phase>  a std::logic_error thrown as that phase starts
//   TTST_SUPERVISE_TEST_PAUSE_AT=<phase or commit step>  SIGSTOP itself there (SIGCONT resumes)
//   TTST_SUPERVISE_TEST_LIMITS=<cpu ms>,<wall ceiling ms>,<cap ms>  the default time
//     limit's bounds (time_limit.h) instead of those from P's size (no --timeout)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "inject/testing_agent.h"
#include "supervisor/supervise_cli.h"
#include "supervisor/test_hooks.h"

namespace {

std::optional<uint32_t> task_from(const char* variable) {
  const char* v = std::getenv(variable);
  if (!v || !*v) return std::nullopt;
  return static_cast<uint32_t>(std::strtoul(v, nullptr, 0));
}

}  // namespace

int main(int argc, char** argv) {
  ttst::supervisor::TestHooks hooks;
  hooks.agent = &ttst::inject::testing_agent();
  hooks.forward_task = task_from("TTST_SUPERVISE_TEST_FORWARD_TASK");
  hooks.backward_task = task_from("TTST_SUPERVISE_TEST_BACKWARD_TASK");
  hooks.delta_task = task_from("TTST_SUPERVISE_TEST_DELTA_TASK");
  if (const char* n = std::getenv("TTST_SUPERVISE_TEST_ROUND_FAULTS")) hooks.round_faults = std::strtoull(n, nullptr, 10);
  if (const char* r = std::getenv("TTST_SUPERVISE_TEST_AGENTS_READ")) hooks.agents_read = std::string(r) == "1";
  if (const char* at = std::getenv("TTST_SUPERVISE_TEST_DIE_AT")) hooks.die_at = at;
  if (const char* in = std::getenv("TTST_SUPERVISE_TEST_BUG_IN")) hooks.bug_in = in;
  if (const char* at = std::getenv("TTST_SUPERVISE_TEST_PAUSE_AT")) hooks.pause_at = at;
  if (const char* l = std::getenv("TTST_SUPERVISE_TEST_LIMITS")) {
    unsigned long long cpu = 0, wall = 0, cap = 0;
    if (std::sscanf(l, "%llu,%llu,%llu", &cpu, &wall, &cap) == 3 && cpu > 0) {
      hooks.limits.emplace();
      hooks.limits->cpu = std::chrono::milliseconds(cpu);
      hooks.limits->wall = std::chrono::milliseconds(wall);
      hooks.limits->cap = std::chrono::milliseconds(cap);
    }
  }
  return ttst::supervisor::supervise_main(argc, argv, &hooks);
}
