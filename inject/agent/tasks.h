/* tasks.h — the agent's task registry. A task is a function of the descriptor that
 * returns a status; the host selects it by id (agent_abi.h). Any source linked into
 * the agent registers tasks with AGENT_TASK(id, fn) at file scope: the entries land
 * in the section ttst_agent_tasks, which the linker brackets with
 * __start_/__stop_ symbols, so adding a task never edits this folder. */
#ifndef TTST_AGENT_TASKS_H
#define TTST_AGENT_TASKS_H

#include <stdint.h>

#include "inject/agent/agent_abi.h"

typedef int64_t (*agent_task_fn)(struct ttst_agent_desc *desc);

struct agent_task_entry {
  uint32_t id;
  agent_task_fn fn;
};

#define AGENT_TASK(id_, fn_)                                                   \
  static const struct agent_task_entry agent_task_entry_##fn_                   \
      __attribute__((used, section("ttst_agent_tasks"), aligned(8))) = {(id_), (fn_)}

/* Looks the task up; NULL when unknown (or registered twice: refused). */
agent_task_fn agent_find_task(uint32_t id);

#endif
