// steps.cc — see steps.h.
#include "inject/steps.h"

#include <utility>

namespace ttst::inject {
namespace {
StepHook& hook() {
  static StepHook h;
  return h;
}
}  // namespace

void set_step_hook(StepHook h) { hook() = std::move(h); }

void step(std::string_view name, pid_t pid) {
  if (hook()) hook()(name, pid);
}

}  // namespace ttst::inject
