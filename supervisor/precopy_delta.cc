// precopy_delta.cc — see precopy_delta.h.
#include "supervisor/precopy_delta.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "diff/proc_files.h"
#include "inject/memory.h"
#include "inject/sys/proc_maps.h"
#include "inject/sys/proc_status.h"
#include "stfw/abi/ttst_abi.h"

namespace ttst::supervisor {
namespace {

std::string link_of(const std::string& path) {
  char buf[4096];
  const ssize_t n = readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : "?";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The registers by name, for "register rbx changed".
struct NamedReg {
  const char* name;
  size_t offset;
};
#define TTST_REG(r) {#r, offsetof(user_regs_struct, r)}
constexpr NamedReg kRegs[] = {
    TTST_REG(r15), TTST_REG(r14), TTST_REG(r13), TTST_REG(r12), TTST_REG(rbp),     TTST_REG(rbx),
    TTST_REG(r11), TTST_REG(r10), TTST_REG(r9),  TTST_REG(r8),  TTST_REG(rax),     TTST_REG(rcx),
    TTST_REG(rdx), TTST_REG(rsi), TTST_REG(rdi), TTST_REG(orig_rax), TTST_REG(rip), TTST_REG(cs),
    TTST_REG(eflags), TTST_REG(rsp), TTST_REG(ss), TTST_REG(fs_base), TTST_REG(gs_base), TTST_REG(ds),
    TTST_REG(es), TTST_REG(fs), TTST_REG(gs)};
#undef TTST_REG

unsigned long long reg_at(const user_regs_struct& r, size_t offset) {
  unsigned long long v;
  std::memcpy(&v, reinterpret_cast<const char*>(&r) + offset, sizeof v);
  return v;
}

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace

PastFacts read_past_facts(pid_t pid, const user_regs_struct& regs) {
  PastFacts f;
  f.regs = regs;
  const std::string proc = "/proc/" + std::to_string(pid);
  if (DIR* d = opendir((proc + "/fd").c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      const int fd = std::atoi(e->d_name);
      f.fds.emplace_back(fd, link_of(proc + "/fd/" + e->d_name) + "\n" + slurp(proc + "/fdinfo/" + e->d_name));
    }
    closedir(d);
  } else {
    f.fds.emplace_back(-1, "unreadable");  // never equal to a readable table
  }
  std::sort(f.fds.begin(), f.fds.end());
  for (const char* field : {"SigBlk", "SigIgn", "SigCgt", "Umask"})
    f.process += std::string(field) + ":" + sys::proc_status_field(pid, field) + "\n";
  f.process += "cwd:" + link_of(proc + "/cwd") + "\nroot:" + link_of(proc + "/root") + "\n";
  return f;
}

// In a system call at both stops (orig_rax not -1; a quiescent P always is: its
// loop's blocking call or the update-point marker), rax, rcx, r11 and orig_rax are
// the kernel's syscall bookkeeping, not program state: rcx and r11 are clobbered by
// the `syscall` instruction, rax holds -ERESTART... or -ENOSYS, and orig_rax
// names the call, which after a seizure and a release is restart_syscall for a
// call with a restart block (nanosleep, futex, poll with a timeout).
static bool syscall_bookkeeping(const user_regs_struct& then, const user_regs_struct& now, size_t offset) {
  if (then.orig_rax == ~0ull || now.orig_rax == ~0ull) return false;
  return offset == offsetof(user_regs_struct, rax) || offset == offsetof(user_regs_struct, rcx) ||
         offset == offsetof(user_regs_struct, r11) || offset == offsetof(user_regs_struct, orig_rax);
}

// Registers that may hold a frame's locals or a call's arguments: what stage 2
// carries again from the frames at the stop (all but rip, rsp and the segment state).
static bool holds_locals(size_t offset) {
  return offset != offsetof(user_regs_struct, rip) && offset != offsetof(user_regs_struct, rsp) &&
         offset != offsetof(user_regs_struct, cs) && offset != offsetof(user_regs_struct, ss) &&
         offset != offsetof(user_regs_struct, fs_base) && offset != offsetof(user_regs_struct, gs_base) &&
         offset != offsetof(user_regs_struct, ds) && offset != offsetof(user_regs_struct, es) &&
         offset != offsetof(user_regs_struct, fs) && offset != offsetof(user_regs_struct, gs);
}

uint64_t syscall_return_pc(const user_regs_struct& r) {
  return static_cast<int64_t>(r.orig_rax) >= 0 && r.rax == r.orig_rax ? r.rip + 2 : r.rip;
}

// rip in a system call at both stops: where each returns to (syscall_return_pc).
static bool same_return(const user_regs_struct& then, const user_regs_struct& now, size_t offset) {
  return offset == offsetof(user_regs_struct, rip) && then.orig_rax != ~0ull && now.orig_rax != ~0ull &&
         syscall_return_pc(then) == syscall_return_pc(now);
}

std::string facts_changed(const PastFacts& then, const PastFacts& now, bool locals_followed) {
  for (const NamedReg& r : kRegs)
    if (reg_at(then.regs, r.offset) != reg_at(now.regs, r.offset) && !syscall_bookkeeping(then.regs, now.regs, r.offset) &&
        !same_return(then.regs, now.regs, r.offset) && !(locals_followed && holds_locals(r.offset)))
      return std::string("register ") + r.name + " changed (" + hex(reg_at(then.regs, r.offset)) + " -> " +
             hex(reg_at(now.regs, r.offset)) + ")";
  size_t i = 0, j = 0;
  while (i < then.fds.size() || j < now.fds.size()) {
    if (j == now.fds.size() || (i < then.fds.size() && then.fds[i].first < now.fds[j].first))
      return "descriptor " + std::to_string(then.fds[i].first) + " was closed";
    if (i == then.fds.size() || now.fds[j].first < then.fds[i].first)
      return "descriptor " + std::to_string(now.fds[j].first) + " was opened";
    if (then.fds[i].second != now.fds[j].second)
      return "descriptor " + std::to_string(now.fds[j].first) + " changed (its file, flags, offset or registrations)";
    ++i, ++j;
  }
  if (then.process != now.process) return "the signal mask or dispositions, umask, cwd or root changed";
  return "";
}

std::string precopy_obstacle(pid_t pid) {
  for (const sys::Mapping& m : sys::read_maps(pid))
    if (m.shared() && m.writable()) return "a writable shared mapping (" + m.describe() + ")";
  return "";
}

diff::Options past_diff_options(pid_t past, const user_regs_struct& regs, uint64_t runtime_addr,
                                std::vector<diff::IgnoredRange> ignored) {
  diff::Options o;
  o.coalesce = true;  // a heap grown by brk in R may be a second VMA where P's is one
  o.kernel_fields = std::move(ignored);
  o.kernel_fields.push_back({runtime_addr + offsetof(struct ttst_runtime, update_requested), sizeof(uint32_t),
                             "update_requested (written by the supervisor)"});
  // Below the stack pointer (and its red zone) the stack holds no state: P's calls
  // and signal handlers since the snapshot wrote there.
  for (const sys::Mapping& m : sys::read_maps(past))
    if (m.contains(regs.rsp) && regs.rsp - 128 > m.start)
      o.kernel_fields.push_back({m.start, regs.rsp - 128 - m.start, "the stack below the stack pointer"});
  std::sort(o.kernel_fields.begin(), o.kernel_fields.end(),
            [](const diff::IgnoredRange& a, const diff::IgnoredRange& b) { return a.addr < b.addr; });
  return o;
}

namespace {
// `ranges` sorted, and those less than `gap` bytes apart (or touching) made one.
PageRanges merged(PageRanges ranges, uint64_t gap) {
  std::sort(ranges.begin(), ranges.end());
  PageRanges out;
  for (const auto& [lo, hi] : ranges) {
    if (!out.empty() && lo <= out.back().second + gap) out.back().second = std::max(out.back().second, hi);
    else out.emplace_back(lo, hi);
  }
  return out;
}

// The brk heap of the first process grown at its end since the second was forked
// from it (the differ's changed mapping): stage 2 follows it, the rest it does not.
bool heap_grown(const diff::MappingDiff& m) {
  return m.kind == diff::MappingDiff::Changed && m.p.path == "[heap]" && m.p.start == m.r.start && m.p.end > m.r.end;
}

// The context a diff gives each changed range (diff::Options::widen: 64 bytes each
// way within its page, ranges less apart made one): a heap descriptor with any
// byte changed is then patched whole (the agents' copies keep tags in
// descriptors' link fields, and a freed block's descriptor reused half-patched
// reads as neither), and the ranges are fewer. A superset, which is sound.
constexpr size_t kSpanContext = 64;

// Every byte range of a diff (widened by the differ) and every grown heap's new
// part, sorted, touching ones made one; with `now`'s bytes there back to back
// (the ranges' as the diff read them — its P side is `now` — the grown parts' read
// now), or none when some range's bytes were not all kept or read.
ChangedSpans spans_of(const diff::Result& res, pid_t now) {
  struct Piece {
    uint64_t lo, hi;
    const std::vector<uint8_t>* bytes;  // null: a grown part, read
  };
  std::vector<Piece> pieces;
  ChangedSpans out;
  for (const diff::ByteDiff& b : res.bytes) {
    pieces.push_back({b.addr, b.addr + b.len, &b.p});
    if (out.unread.empty() && (b.unreadable || b.p.size() != b.len))
      out.unread = "a changed range of the old version was unreadable at " + hex(b.addr);
  }
  for (const diff::MappingDiff& m : res.mappings)
    if (heap_grown(m)) pieces.push_back({m.r.end, m.p.end, nullptr});
  std::sort(pieces.begin(), pieces.end(), [](const Piece& x, const Piece& y) { return x.lo < y.lo; });
  std::optional<diff::Memory> memory;  // /proc/PID/mem: the page tables left as they were
  for (const Piece& p : pieces) {
    if (!out.spans.empty() && p.lo <= out.spans.back().second) {
      if (p.lo < out.spans.back().second && out.unread.empty())  // overlapping: not back to back
        out.unread = "changed ranges overlap at " + hex(p.lo);
      out.spans.back().second = std::max(out.spans.back().second, p.hi);
    } else {
      out.spans.emplace_back(p.lo, p.hi);
    }
    if (!out.unread.empty()) continue;
    if (p.bytes) {
      out.bytes.insert(out.bytes.end(), p.bytes->begin(), p.bytes->end());
      continue;
    }
    if (!memory) memory.emplace(now);
    const size_t at = out.bytes.size();
    out.bytes.resize(at + (p.hi - p.lo));
    if (!memory->read(p.lo, out.bytes.data() + at, p.hi - p.lo))
      out.unread = "cannot read /proc/" + std::to_string(now) + "/mem at " + hex(p.lo);
  }
  if (!out.unread.empty()) out.bytes.clear();
  return out;
}

// A layout change stage 2 does not follow: anything but a grown brk heap.
const diff::MappingDiff* other_layout_change(const diff::Result& res) {
  for (const diff::MappingDiff& m : res.mappings)
    if (!heap_grown(m)) return &m;
  return nullptr;
}
// Byte ranges kept in full: all of them for stage 2 (the count is bounded by the
// pages compared; none of their bytes is kept).
constexpr size_t kEveryRange = size_t{1} << 40;
}  // namespace

MemoryDelta memory_changed(pid_t past, pid_t key, const user_regs_struct& regs, uint64_t runtime_addr,
                           std::vector<diff::IgnoredRange> ignored, diff::PageReads past_reads) {
  diff::Options o = past_diff_options(past, regs, runtime_addr, std::move(ignored));
  o.p_reads = past_reads;
  o.widen = kSpanContext;
  o.max_diffs = kEveryRange;
  o.max_shown_bytes = kEveryRange;  // P's bytes, for stage 2's copy into R
  diff::Result res = diff::diff_processes(past, key, o);
  MemoryDelta d;
  d.stats = res.stats;
  d.bytes = res.bytes_in_ranges;
  d.ranges = res.bytes.size() + res.more_byte_diffs;
  const diff::MappingDiff* layout = other_layout_change(res);
  d.layout = layout != nullptr;
  for (const diff::MappingDiff& m : res.mappings)
    if (heap_grown(m)) d.heap_end = m.p.end;
  if (!d.layout) {
    ChangedSpans spans = spans_of(res, past);
    d.spans = std::move(spans.spans), d.span_bytes = std::move(spans.bytes), d.unread = std::move(spans.unread);
  }
  if (layout) {
    d.changed = "its memory layout changed (" + layout->describe() + ")";
  } else if (d.heap_end && res.bytes.empty()) {
    d.changed = "its heap grew (to " + hex(d.heap_end) + ")";
  } else if (!res.bytes.empty()) {
    d.changed = "its memory changed (" + std::to_string(res.bytes_in_ranges) + " bytes, the first at " +
                hex(res.bytes.front().addr) + ")";
  }
  return d;
}

std::optional<ChangedSpans> pages_written(pid_t now, pid_t before, const std::vector<sys::Mapping>& left_out,
                                          std::string* layout_change) {
  diff::Options o;
  o.agent_regions = left_out;
  o.coalesce = true;       // F's heap split by its huge-page advice differently since
  o.max_diffs = kEveryRange;
  o.max_shown_bytes = kEveryRange;  // F's bytes, for the backward second run (which then reads none)
  o.widen = kSpanContext;
  const diff::Result res = diff::diff_processes(now, before, o);
  if (const diff::MappingDiff* m = other_layout_change(res)) return *layout_change = m->describe(), std::nullopt;
  return spans_of(res, now);
}

PageRanges pages_of(const PageRanges& spans) {
  PageRanges pages;
  for (const auto& [from, to] : spans) pages.emplace_back(from & ~uint64_t{4095}, (to + 4095) & ~uint64_t{4095});
  return merged(std::move(pages), 0);
}

uint64_t page_count(const PageRanges& spans) {
  uint64_t n = 0;
  for (const auto& [lo, hi] : pages_of(spans)) n += (hi - lo) / 4096;
  return n;
}

std::vector<sys::Mapping> mappings_within(pid_t pid, uint64_t lo, uint64_t hi) {
  std::vector<sys::Mapping> in;
  for (const sys::Mapping& m : sys::read_maps(pid))
    if (m.start >= lo && m.end <= hi) in.push_back(m);
  return in;
}

void write_changed(pid_t to, const MemoryDelta& d) {
  if (!d.unread.empty()) throw std::runtime_error(d.unread);
  std::vector<inject::MemoryPiece> pieces;
  pieces.reserve(d.spans.size());
  size_t at = 0;
  for (const auto& [lo, hi] : d.spans) {
    pieces.emplace_back(lo, std::span<const uint8_t>(d.span_bytes).subspan(at, hi - lo));
    at += hi - lo;
  }
  inject::write_memory_pieces(to, pieces);
}

}  // namespace ttst::supervisor
