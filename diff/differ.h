// differ.h — the trusted state differencer: are the past process P and the
// reversed process R identical in every writable byte, except the agent's region?
//
// What is compared (both processes must stay stopped during the call):
//  * Layout: every mapping of P must have a mapping of R with the same range,
//    permissions, offset, device, inode and path, and vice versa. The only
//    exceptions are R's mappings that are *exactly* (every field of the maps line)
//    one of the agent regions the supervisor created. Anything else is a
//    MappingDiff: a leaked or missing mapping, or changed permissions.
//  * Content of every private mapping (any permissions, so a write that was
//    mprotect-ed away is still seen). Shared mappings of the same object are equal
//    by construction; [vvar]/[vvar_vclock]/[vsyscall] are the kernel's own.
//  * Fast path from /proc/PID/pagemap: a page on the same physical frame in both is
//    equal; a page present in neither (and not swapped) reads the same in both
//    (zero, or the same file page); in a file mapping, a page cache page present
//    in one and absent in the other is what the other would read (fork does not
//    copy such entries). Everything else is read in large batches and
//    compared. Without visible frames (not root) every present page is read; the
//    mode says so.
//  * Kernel-written fields (the rseq cpu/node/mm-cid words of each thread) are the
//    only bytes inside compared mappings that may differ; the caller lists them.
// Depends on nothing that runs in R or F: only /proc and process_vm_readv.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "diff/proc_files.h"
#include "inject/sys/proc_maps.h"

namespace ttst::diff {

struct IgnoredRange {
  uint64_t addr = 0, len = 0;
  std::string why;  // "rseq cpu_id of thread 1234"
};

// The four fields the kernel writes into a registered struct rseq on return to
// user space (cpu_id_start, cpu_id, node_id, mm_cid). `rseq_addr` comes from
// PTRACE_GET_RSEQ_CONFIGURATION on each thread of P (R inherits the same area).
std::vector<IgnoredRange> rseq_kernel_fields(uint64_t rseq_addr, const std::string& thread);

struct Options {
  // The mappings the supervisor created (copied from the maps when it created
  // them: R's agent regions, or F's kept one); a mapping of either process is
  // skipped only if equal to one of these in every field.
  std::vector<sys::Mapping> agent_regions;
  std::vector<IgnoredRange> kernel_fields;
  size_t max_diffs = 100;       // byte ranges kept in full; the rest are counted
  size_t max_shown_bytes = 64;  // bytes of P and of R kept per range
  // Adjacent private anonymous mappings of the same permissions and name compared
  // as one on each side: how a mapping is split into kernel VMAs (advice such as
  // MADV_HUGEPAGE on part of a heap) is not in /proc/PID/maps' lines and no state.
  bool coalesce = false;
  bool use_frames = true;       // false: as without CAP_SYS_ADMIN, compare every page
                                // that is present (or swapped) in P or R (full mode)
  unsigned threads = 2;         // workers comparing 16 MiB chunks in parallel
  // Each differing range widened by this many bytes each way within its page, and
  // ranges of a page less than this apart made one (their bytes all P's and R's as
  // read); the count of differing bytes (bytes_in_ranges) stays exact.
  size_t widen = 0;
  // How P's side is read (proc_files.h PageReads): plainly where P's side is a
  // clone whose frames a later comparison relies on (a pre-copy key); R's side is
  // always pinned (it owns its pages, or ends after the comparison).
  PageReads p_reads = PageReads::kPinned;
};

struct MappingDiff {
  enum Kind { OnlyInP, OnlyInR, Changed } kind;
  sys::Mapping p, r;  // the one(s) that exist
  std::string describe() const;
};

struct ByteDiff {
  uint64_t addr = 0, len = 0;  // differing bytes are within [addr, addr+len)
  std::vector<uint8_t> p, r;   // the first min(len, max_shown_bytes) bytes
  char unreadable = 0;         // 'P' or 'R': the page could be read only in the other
};

struct Stats {
  std::string mode;                  // "frames", "full (...why...)"
  uint64_t mappings_compared = 0;    // private mapping pairs whose content was checked
  uint64_t mappings_shared = 0;      // shared pairs, equal by construction
  uint64_t pages_total = 0;          // pages of compared mappings
  uint64_t pages_same_frame = 0;     // skipped: same physical frame
  uint64_t pages_absent = 0;         // skipped: present in neither
  uint64_t pages_unpopulated = 0;    // skipped: in a huge mapping, outside every
                                     // populated range of P and R (PAGEMAP_SCAN)
  uint64_t pages_file = 0;           // skipped: a file page in one, absent in the other
  uint64_t pages_read = 0;           // read from both and compared
  uint64_t pages_unreadable_both = 0;
  uint64_t bytes_compared = 0;       // pages_read * 4096
  double elapsed_s = 0;
  double effective_gbps() const;     // pages_total * 4096 / elapsed
};

struct Result {
  std::vector<MappingDiff> mappings;
  std::vector<ByteDiff> bytes;      // at most Options::max_diffs
  uint64_t more_byte_diffs = 0;     // ranges found beyond max_diffs
  uint64_t bytes_in_ranges = 0;     // sum of all ranges' lengths
  Stats stats;
  bool equal() const { return mappings.empty() && bytes.empty() && more_byte_diffs == 0; }
};

// Compares P and R. Throws std::runtime_error when either cannot be inspected
// (gone, no permission): that is never "equal".
Result diff_processes(pid_t p, pid_t r, const Options& opts = {});

}  // namespace ttst::diff
