// agent_blob.h — the built agent ELF, embedded in the host at build time
// (generated agent_blob.cc). The loader parses it with libelf from memory. This is
// the agent the supervisor ships: its task table holds the transfer tasks only.
#pragma once
#include <span>

namespace ttst::inject {
std::span<const unsigned char> agent_elf();
}
