// call_sites.h — the instructions the quiescence rule looks at, decoded with
// Capstone forward from a known boundary, never guessed backwards. TRUSTED.
//
// Two questions only:
//  - "is the instruction that ends at this return address a call?" — the stack scan
//    of quiesce.cc takes the first word above rsp that answers yes for the innermost
//    program frame, so a wrong yes (a stale value taken for a frame) or a wrong no (a
//    real frame skipped, its caller taken for it) can make a mid-request thread look
//    quiescent. x86-64 calls are 2 to 15 bytes long (e8 rel32; ff /2 with any ModRM,
//    SIB, displacement and REX/notrack/bnd/segment/66/67 prefixes), and reading the
//    bytes before an address cannot tell where an instruction starts. So the
//    function that holds the call (the symbol around ret - 1) is decoded from its
//    entry, instruction by instruction, until the one ending at or after `ret`;
//  - "is the instruction at rip a `syscall`?" — rip is a boundary by definition.
//
// Three answers, so that a doubt never becomes a "no": kUnknown (no symbol around
// the address, bytes unreadable, or an instruction Capstone cannot decode before
// `ret`) makes the caller stop looking for a frame, and the thread is then not
// quiescent (driven to its update point instead), never the reverse.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>

#include "inject/remote_addr.h"
#include "supervisor/quiesce/upoint_map.h"

namespace ttst::quiesce {

enum class CallCheck {
  kCall,     // an instruction of the function ends exactly at `ret` and is a near call
  kNotCall,  // none ends there (mid-instruction, or entry of a function), or it is no call
  kUnknown,  // cannot tell: see above
};

const char* call_check_name(CallCheck c);

// `code` holds the bytes of one function from its entry, which is at address
// `entry` (any address space, the same as `ret`'s). `code` should extend past
// `ret` by up to 15 bytes (or to the function's end) so an instruction that
// straddles `ret` decodes and is seen as straddling.
// With `direct_target`: set to the call's target (same address space as `ret`)
// when the call is a direct `e8 rel32` one, else to 0.
CallCheck call_ends_at(std::span<const uint8_t> code, uint64_t entry, uint64_t ret,
                       uint64_t* direct_target = nullptr);

// The same for return address `ret` (run-time) in process `pid`, whose executable
// is described by `map` and loaded with `bias`: the function's bytes are read
// from the process (read-only).
// `direct_target` is then a link-time address.
CallCheck call_ends_at(pid_t pid, const UpdatePointMap& map, inject::LoadBias bias, inject::RemoteAddr ret,
                       uint64_t* direct_target = nullptr);

// True when the instruction starting at `code[0]` is `syscall`.
bool is_syscall(std::span<const uint8_t> code);
// The same for the instruction at `addr` in `pid` (false when unreadable).
bool is_syscall_at(pid_t pid, inject::RemoteAddr addr);

}  // namespace ttst::quiesce
