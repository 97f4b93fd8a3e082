// steps.h — named points of the engine, for observing and fault-injection tests
// (the "supervisor killed at each step" test kills the engine process at each one).
// TRUSTED. The hook is process-wide; production code leaves it unset.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string_view>

namespace ttst::inject {

// Called with the step's name and the pid the step concerns (the new child, the
// target...), or 0.
using StepHook = std::function<void(std::string_view step, pid_t pid)>;

void set_step_hook(StepHook hook);
void step(std::string_view name, pid_t pid = 0);

}  // namespace ttst::inject
