// future_frames.h — after the forward transfer, F's stopped thread itself: its
// registers pointing into start-up objects the transfer superseded are remapped to
// the counterparts the engine reported (the engine in F cannot reach them: the
// agent host saves and restores the thread's registers around its run), and a
// cheap check that no word of F's stack and no register still points into a
// superseded object the engine freed. TRUSTED: the engine (untrusted, in F)
// remapped the stack words itself (stfw/xfer/engine_frames.cc); this is the
// defence in depth that keeps a committed F from running on freed memory.
//
// Policy: a register inside a superseded object with a unique counterpart takes
// the counterpart at the same offset; one without (its globals now point to
// different objects, or NULL) rolls back naming the register. A stack word inside
// a superseded object after the transfer (freed: F would run on freed memory; kept:
// on v2's empty start-up state) rolls back naming its address (the engine missed
// it: a bug of the untrusted side, caught before the commit). The list itself comes
// from the engine: an engine that omits an object defeats the check, one that
// forgets a stack word does not.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inject/task.h"

namespace ttst::supervisor {

// One line of the engine's output (stfw_task.h TTST_STFW_SUPERSEDED_PREFIX).
struct SupersededObject {
  uint64_t addr = 0, size = 0, counterpart = 0;
  bool freed = false;
};

// The superseded objects listed in the forward transfer's output (lines after the first).
std::vector<SupersededObject> parse_superseded(const std::vector<uint8_t>& output);

// One scalar local of F's frames in a callee-saved register (stfw_task.h
// TTST_STFW_LOCAL_REGISTER_PREFIX): main's `int epfd` at -O2.
struct LocalRegister {
  uint32_t frame = 0, reg = 0;  // F's frame (innermost 0), DWARF register
  uint64_t value = 0;
};

std::vector<LocalRegister> parse_local_registers(const std::vector<uint8_t>& output);

// Writes each value where `thread`'s frame holds that register: the slot an inner
// frame saved it in, else the thread's own register (the engine in F cannot: the
// agent host restores F's registers). A frame the unwinder does not reach, or a
// register it does not know there, rolls back naming the local's place. Returns how
// many were written.
int set_local_registers(inject::Task& thread, const std::vector<LocalRegister>& locals);

// Remaps `thread`'s registers, then checks its stack and registers; ends the
// transaction (rollback) when a register cannot be remapped or a pointer into a
// freed object remains. Returns how many registers were remapped.
int settle_future_frames(inject::Task& thread, const std::vector<SupersededObject>& superseded);

}  // namespace ttst::supervisor
