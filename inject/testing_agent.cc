// testing_agent.cc — see testing_agent.h.
#include "inject/testing_agent.h"

#include "inject/agent/agent_testing_blob.h"

namespace ttst::inject {

const AgentImage& testing_agent() {
  static const AgentImage image = AgentImage::parse(testing_agent_elf());
  return image;
}

}  // namespace ttst::inject
