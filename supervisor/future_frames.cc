// future_frames.cc — see future_frames.h.
#include "supervisor/future_frames.h"

#include <sys/user.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "inject/memory.h"
#include "inject/sys/proc_maps.h"
#include "stfw/stfw_task.h"
#include "supervisor/past_frames.h"
#include "supervisor/quiesce/unwind.h"
#include "supervisor/transaction_end.h"

namespace ttst::supervisor {
namespace {

constexpr uint64_t kRedZone = 128;  // System V: below rsp, still the function's

const SupersededObject* holding(const std::vector<SupersededObject>& list, uint64_t v) {
  for (const SupersededObject& s : list)
    if (v >= s.addr && v - s.addr < std::max<uint64_t>(s.size, 1)) return &s;
  return nullptr;
}

std::string hex(uint64_t v) {
  std::ostringstream o;
  o << "0x" << std::hex << v;
  return o.str();
}

// The thread's data registers (not rip, rsp, flags, segments, orig_rax).
struct NamedRegister {
  const char* name;
  unsigned long long user_regs_struct::*reg;
};
constexpr NamedRegister kRegisters[] = {
    {"rbx", &user_regs_struct::rbx}, {"rbp", &user_regs_struct::rbp}, {"r12", &user_regs_struct::r12},
    {"r13", &user_regs_struct::r13}, {"r14", &user_regs_struct::r14}, {"r15", &user_regs_struct::r15},
    {"rax", &user_regs_struct::rax}, {"rcx", &user_regs_struct::rcx}, {"rdx", &user_regs_struct::rdx},
    {"rsi", &user_regs_struct::rsi}, {"rdi", &user_regs_struct::rdi}, {"r8", &user_regs_struct::r8},
    {"r9", &user_regs_struct::r9},   {"r10", &user_regs_struct::r10}, {"r11", &user_regs_struct::r11},
};

// Every aligned word of the thread's stack, from rsp (red zone included) to the
// end of the mapping holding rsp.
std::vector<uint64_t> stack_words(pid_t tid, uint64_t rsp, uint64_t* lo) {
  for (const sys::Mapping& m : sys::read_maps(tid)) {
    if (rsp < m.start || rsp >= m.end) continue;
    *lo = std::max(m.start, (rsp - kRedZone) & ~uint64_t{7});
    std::vector<uint8_t> bytes(m.end - *lo);
    bytes.resize(inject::try_read_memory(tid, *lo, bytes) & ~size_t{7});
    std::vector<uint64_t> words(bytes.size() / 8);
    std::memcpy(words.data(), bytes.data(), bytes.size());
    return words;
  }
  rollback(Reason::kInvariant, "the future version's stack (rsp " + hex(rsp) + ") is in no mapping",
           "the old version keeps serving; see the report");
}

// The agent's output lines (NUL-separated) that begin with `prefix`, without it.
std::vector<std::string> lines_with(const std::vector<uint8_t>& output, const std::string& prefix) {
  std::vector<std::string> lines;
  for (size_t at = 0; at < output.size();) {
    size_t end = at;
    while (end < output.size() && output[end] != 0) ++end;
    std::string line(output.begin() + at, output.begin() + end);
    at = end + 1;
    if (line.rfind(prefix, 0) == 0) lines.push_back(line.substr(prefix.size()));
  }
  return lines;
}

}  // namespace

std::vector<SupersededObject> parse_superseded(const std::vector<uint8_t>& output) {
  std::vector<SupersededObject> list;
  for (const std::string& line : lines_with(output, TTST_STFW_SUPERSEDED_PREFIX)) {
    std::istringstream in(line);
    SupersededObject s;
    int freed = 0;
    in >> std::hex >> s.addr >> s.size >> s.counterpart >> std::dec >> freed;
    if (!in) internal(std::string("the forward transfer's list of superseded objects is garbled: ") +
                          TTST_STFW_SUPERSEDED_PREFIX + line,
                      "report this with the post-mortem report; the old version keeps serving");
    s.freed = freed != 0;
    list.push_back(s);
  }
  return list;
}

int settle_future_frames(inject::Task& thread, const std::vector<SupersededObject>& superseded) {
  if (superseded.empty()) return 0;
  user_regs_struct regs = thread.get_regs();
  int remapped = 0;
  for (const NamedRegister& r : kRegisters) {
    uint64_t v = regs.*r.reg;
    const SupersededObject* s = holding(superseded, v);
    if (!s) continue;
    if (!s->counterpart)
      rollback(Reason::kInvariant,
               std::string("the future version's register ") + r.name + " at its update point holds " + hex(v) +
                   ", a pointer to its start-up object at " + hex(s->addr) + " (" + std::to_string(s->size) +
                   " bytes) that the transfer replaced, and it has no unique counterpart",
               "in the new version, create that object at start-up only when not updating (if "
               "(!ttst_is_updating()) global = ...;): the transfer brings the old version's; and let the update "
               "point's function read the global after the update point, in the loop's body (TTST_UPDATE_POINT(); "
               "T *p = global;), not from a local set before the loop nor a parameter; or add transfer code; the "
               "old version keeps serving");
    regs.*r.reg = s->counterpart + (v - s->addr);
    ++remapped;
  }
  if (remapped) thread.set_regs(regs);
  uint64_t lo = 0, min = UINT64_MAX, max = 0;  // the objects' extent: most words miss it
  for (const SupersededObject& s : superseded) min = std::min(min, s.addr), max = std::max(max, s.addr + s.size);
  std::vector<uint64_t> words = stack_words(thread.tid(), regs.rsp, &lo);
  for (size_t i = 0; i < words.size(); ++i) {
    const SupersededObject* s = words[i] >= min && words[i] <= max ? holding(superseded, words[i]) : nullptr;
    if (s)  // freed: F would run on freed memory; kept: on v2's empty start-up state
      rollback(Reason::kInvariant,
               std::string("the forward transfer left a pointer to a ") + (s->freed ? "freed" : "replaced") +
                   " start-up object (" + hex(s->addr) +
                   ") in the future version's stack at " + hex(lo + 8 * i) + " (a bug of the transfer engine, "
                   "caught before the commit)",
               "report this with the post-mortem report; the old version keeps serving");
  }
  return remapped;
}

std::vector<LocalRegister> parse_local_registers(const std::vector<uint8_t>& output) {
  std::vector<LocalRegister> list;
  for (const std::string& line : lines_with(output, TTST_STFW_LOCAL_REGISTER_PREFIX)) {
    std::istringstream in(line);
    LocalRegister l;
    in >> std::dec >> l.frame >> l.reg >> std::hex >> l.value;
    if (!in) internal(std::string("the forward transfer's list of locals in registers is garbled: ") +
                          TTST_STFW_LOCAL_REGISTER_PREFIX + line,
                      "report this with the post-mortem report; the old version keeps serving");
    list.push_back(l);
  }
  return list;
}

int set_local_registers(inject::Task& thread, const std::vector<LocalRegister>& locals) {
  if (locals.empty()) return 0;
  user_regs_struct regs = thread.get_regs();
  std::string doubt;
  quiesce::Unwinder unwinder(thread.tid());
  const std::vector<quiesce::UnwoundFrame> frames = unwinder.unwind(regs, kMaxUnwoundFrames, doubt);
  unsigned long long* live[6] = {&regs.rbx, &regs.rbp, &regs.r12, &regs.r13, &regs.r14, &regs.r15};
  bool regs_changed = false;
  for (const LocalRegister& l : locals) {
    const int* it = std::find(std::begin(quiesce::kCalleeSaved), std::end(quiesce::kCalleeSaved), int(l.reg));
    const size_t i = size_t(it - std::begin(quiesce::kCalleeSaved));
    if (l.frame >= frames.size() || i >= 6 || (l.frame > 0 && !(frames[l.frame].saved_known & (1u << i))))
      rollback(Reason::kInvariant,
               "the forward transfer carried a local of the future version's frame " + std::to_string(l.frame) +
                   " in DWARF register " + std::to_string(l.reg) + ", where its frames cannot be unwound to (" +
                   (doubt.empty() ? std::string("no such frame or register") : doubt) + ")",
               "keep that local in a global (static) of the new version; the old version keeps serving");
    const uint64_t at = l.frame == 0 ? 0 : frames[l.frame].saved_at[i];
    if (at) {
      const uint64_t v = l.value;
      inject::write_memory(thread.tid(), at, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), 8));
    } else {
      *live[i] = l.value, regs_changed = true;
    }
  }
  if (regs_changed) thread.set_regs(regs);
  return int(locals.size());
}

}  // namespace ttst::supervisor
