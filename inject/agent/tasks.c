/* tasks.c — the agent's task registry (tasks.h): looks a task id up in the table
 * the linker builds from every AGENT_TASK entry linked into this agent. The shipped
 * agent holds only the state-transfer tasks (stfw); the test tasks live in
 * test_tasks.c, linked only into the test agent. Untrusted agent code. */
#include "inject/agent/tasks.h"

extern const struct agent_task_entry __start_ttst_agent_tasks[];
extern const struct agent_task_entry __stop_ttst_agent_tasks[];

agent_task_fn agent_find_task(uint32_t id) {
  agent_task_fn found = 0;
  for (const struct agent_task_entry *e = __start_ttst_agent_tasks; e < __stop_ttst_agent_tasks; ++e) {
    if (e->id != id) continue;
    if (found) return 0; /* two tasks claim the id: run neither */
    found = e->fn;
  }
  return found;
}
