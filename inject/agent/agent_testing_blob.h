// agent_testing_blob.h — TEST ONLY: the test agent ELF (the shipped agent plus
// the test tasks), embedded like agent_blob.h in test binaries only.
#pragma once
#include <span>

namespace ttst::inject {
std::span<const unsigned char> testing_agent_elf();
}
