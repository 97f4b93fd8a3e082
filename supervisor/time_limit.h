// time_limit — the default time limit of an update, derived from the size of the
// running program's state as the supervisor itself measures it (issue 15).
//
// A fixed default (5 s) rolled back healthy updates of large programs: a million
// accounts take seconds to transfer twice. The bound must still catch a hang, and
// it must not come from the agent's reports of its progress (a looping agent could
// report forever): so it is fixed before the update starts, from P's anonymous
// memory (resident plus swapped: heap, stacks, written data — what the transfers
// copy), read from /proc/PID/smaps_rollup. `--timeout` replaces it (a hard bound the
// user sets). TRUSTED.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ttst::supervisor {

// The bound for a program whose state holds `state_bytes`: 5 s, plus 200 ms per MiB,
// at most 1 h. The transfers, both directions and the diff, ran at ~30 ms per MiB on
// the quiet 2-core development machine, and at ~80 ms per MiB with its load average
// at 20 (the agent then got a sixth of a core): the bound leaves room over both.
std::chrono::milliseconds default_time_limit(uint64_t state_bytes);

// "Anonymous:" + "Swap:" of an smaps_rollup text, in bytes; nullopt when neither is there.
std::optional<uint64_t> state_bytes_of_rollup(const std::string& smaps_rollup);

// The same for a running process; nullopt when its smaps_rollup cannot be read
// (no such process, no permission): the caller then uses the bound for 0 bytes.
std::optional<uint64_t> state_bytes_of(pid_t pid);

}  // namespace ttst::supervisor
