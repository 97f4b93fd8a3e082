// site_receiver.h — where an allocation's result goes right after the call, read
// from the machine code with Capstone: the data flow that proves which variable or
// member receives it (site_hints.h types the site only from such a proof).
//
// From the call's return address, rax holds the result. The walk follows it through
// the moves that copy it (mov reg, reg; spills and reloads through [rsp + k], and
// [rbp + k] in a frame-pointer function; push / pop), forward along one path: it
// stops at the first jump, return or undecodable byte, after kFlowBudget
// instructions, or when nothing holds the result any more. A call keeps the
// callee-saved registers (rbx, rbp, r12-r15) and the stack slots; every other
// instruction that writes a register or a tracked slot ends that holder. Reported:
//   - FlowPoint: before each instruction, the registers and stack slots that hold
//     the result there (matched by site_hints.cc against each variable's DWARF
//     location valid at that pc: a variable located there holds the result);
//   - FlowStore: `mov [base + disp], holder` through another register (a member
//     store: site_hints.cc types the record by the member when `base` is located
//     as a typed struct pointer at that pc);
//   - globals: `mov [rip + x], holder` (the global's pointee type, as alloc_sites.cc
//     does for a store right after the call).
// Limits: one path (the fall-through one); memory written through another
// register is assumed not to alias a tracked stack slot; only x86-64.
#ifndef DWARFMETA_SITE_RECEIVER_H
#define DWARFMETA_SITE_RECEIVER_H

#include <cstdint>
#include <map>
#include <vector>

#include "dwarfmeta/elf_file.h"
#include "dwarfmeta/model.h"

namespace ttst::dwarfmeta {

inline constexpr int kFlowBudget = 40;  // instructions followed after the call

struct FlowPoint {
  uint64_t pc = 0;
  uint16_t regs = 0;                // bit n: DWARF register n (0 rax, 3 rbx, 6 rbp, 12-15 r12-r15)
  std::vector<int64_t> rsp_slots;   // [rsp + k] at pc holds the result
  std::vector<int64_t> cfa_slots;   // CFA + k holds it (frame-pointer functions: [rbp + k + 16])
};

struct FlowStore {
  uint64_t pc = 0;
  uint8_t base = 0;  // DWARF register number of the address's base
  int64_t disp = 0;
};

struct ResultFlow {
  std::vector<FlowPoint> points;
  std::vector<FlowStore> stores;
  std::vector<uint64_t> globals;  // link-time addresses stored into
};

// The flow of each site's result, keyed by its return address.
std::map<uint64_t, ResultFlow> trace_results(const ElfFile& elf, const Program& prog);

}  // namespace ttst::dwarfmeta

#endif
