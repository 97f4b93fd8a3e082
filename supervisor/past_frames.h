// past_frames.h — the frames of a stopped thread at its update point, unwound with
// the call-frame information (quiesce/unwind.h), as the agent's input for the state
// transfer (stfw_task.h TTST_STFW_FRAMES_MAGIC): their locals are the roots of the
// stack. Forward: P's frames (the peer) and F's own; backward: F's (the peer) and
// R's own, which are P's (R is P's clone: P's registers over R's equal memory).
// TRUSTED but only reads: a frame the unwinder doubts ends the list (fewer roots:
// what they alone reach is then refused by the transfer as untyped, never guessed).
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "stfw/stfw_task.h"

namespace ttst::supervisor {

// How many frames of a stopped thread are unwound, for the engine (P's and F's
// frames) and for placing the locals it carries in F's registers: one bound, so a
// frame the engine saw can always be found again.
constexpr size_t kMaxUnwoundFrames = TTST_STFW_FRAMES_MAX;

struct StoppedThread {
  pid_t pid = 0;  // whose memory holds the stack
  user_regs_struct regs{};
};

// The input block: header, the peer's frames, then self's (at most 64 each).
std::vector<uint8_t> frames_input(const StoppedThread& peer, const StoppedThread& self);

}  // namespace ttst::supervisor
