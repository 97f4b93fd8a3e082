/* tasks.h — the agent's task table. A task is a function of the descriptor that
 * returns a status; the host selects it by id (agent_abi.h). To add one (the
 * state-transfer engine does), add an entry to agent_tasks[] in tasks.c. */
#ifndef TTST_AGENT_TASKS_H
#define TTST_AGENT_TASKS_H

#include <stdint.h>

#include "inject/agent/agent_abi.h"

typedef int64_t (*agent_task_fn)(struct ttst_agent_desc *desc);

struct agent_task_entry {
  uint32_t id;
  agent_task_fn fn;
};

/* Looks the task up; NULL when unknown. */
agent_task_fn agent_find_task(uint32_t id);

#endif
