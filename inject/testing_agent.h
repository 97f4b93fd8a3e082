// testing_agent.h — TEST ONLY: the test agent, the shipped agent plus the test
// tasks (inject/agent/test_tasks.c: crash, abort, hang, escape...; stfw's lossy
// backward transfer). Linked only into tests, test tools and the test variant of
// ttst-supervise; pass it to run_agent (agent_session.h) to run a test task.
#pragma once

#include "inject/agent_image.h"

namespace ttst::inject {

const AgentImage& testing_agent();

}  // namespace ttst::inject
