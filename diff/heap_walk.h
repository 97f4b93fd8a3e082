// heap_walk.h — the live heap objects of a ttst-cc program, read from its
// in-band descriptors (stfw/abi/ttst_abi.h) in P's memory. For naming only:
// the walk is bounded and checks every descriptor, since it reads a program's
// data structures. P is the source, never R (R's descriptors may be damaged).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diff/proc_files.h"
#include "diff/state_model.h"

namespace ttst::diff {

// `runtime_addr` is the run-time address of __ttst_runtime (symbol + load bias).
// Returns false with a one-line `error` when the control block or a list is not
// what the ABI says; `out` then holds what was read before the problem.
bool read_heap_objects(Memory& p, uint64_t runtime_addr, std::vector<HeapObject>& out,
                       std::string& error);

}  // namespace ttst::diff
