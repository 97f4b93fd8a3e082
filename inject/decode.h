// decode.h — x86-64 instruction decoding with Capstone: the `syscall` instruction
// the engine runs remote syscalls at (found in the target's vDSO, never written)
// and the instruction at a fault address for crash reports. TRUSTED.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>

namespace ttst::inject {

struct Instruction {
  uint64_t address = 0;
  unsigned size = 0;
  std::string text;  // "mov eax, dword ptr [rax]"; "" when it could not be decoded
};

Instruction decode_instruction(std::span<const uint8_t> bytes, uint64_t address);
// Reads up to 16 bytes at `address` in `pid` and decodes the first instruction.
Instruction decode_remote_instruction(pid_t pid, uint64_t address);

// The address of a `syscall` instruction in the vDSO of `pid`. Preferred is one
// followed by an instruction that uses the stack (leave/pop/ret): the engine points
// rsp and rbp at non-canonical addresses during remote syscalls, so a thread
// released there by a dying supervisor faults at once instead of running on.
uint64_t find_syscall_site(pid_t pid);

}  // namespace ttst::inject
