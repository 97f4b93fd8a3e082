// differ.cc — the trusted state differencer (see differ.h for what and why).
#include "diff/differ.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "diff/locate.h"
#include "diff/proc_files.h"

namespace ttst::diff {
namespace {

constexpr size_t kBatchPages = 64;    // 256 KiB per side: both buffers stay in L2
constexpr size_t kChunkPages = 4096;  // one unit of work: 16 MiB, one pagemap read

bool kernel_owned(const sys::Mapping& m) {
  return m.path == "[vvar]" || m.path == "[vvar_vclock]" || m.path == "[vsyscall]";
}

struct Chunk {
  uint64_t start;
  size_t pages;
  bool file;  // part of a file mapping
};

// What one chunk found, ranges in address order.
struct Part {
  std::vector<ByteDiff> bytes;  // at most max_diffs
  uint64_t more = 0, in_ranges = 0;
  uint64_t same_frame = 0, absent = 0, file = 0, read = 0, unreadable_both = 0;
  bool frames_invisible = false, pagemap_failed = false;
};

// What every worker shares; all of it is read-only or thread-safe (pread).
struct Shared {
  Shared(pid_t p, pid_t r, const Options& o)
      : o(o), pm(p, o.p_reads), rm(r, PageReads::kPinned), pp(p), rp(r), fields(o.kernel_fields) {
    std::sort(fields.begin(), fields.end(),
              [](const IgnoredRange& a, const IgnoredRange& b) { return a.addr < b.addr; });
    if (!pp.ok()) full_why = pp.error();
    else if (!rp.ok()) full_why = rp.error();
  }
  const Options& o;
  Memory pm, rm;
  Pagemap pp, rp;
  std::vector<IgnoredRange> fields;  // sorted by address
  std::string full_why;              // non-empty: no pagemap at all
};

// Compares whole chunks, one at a time, with its own buffers.
class Worker {
 public:
  explicit Worker(Shared& s) : s_(s), bufp_(kBatchPages * kPage), bufr_(kBatchPages * kPage),
                               ep_(kChunkPages), er_(kChunkPages) {}

  void run(const Chunk& c, Part& part) {
    part_ = &part;
    mergeable_ = false;
    bool map_ok = s_.full_why.empty();
    if (map_ok && !(s_.pp.read(c.start, c.pages, ep_.data()) && s_.rp.read(c.start, c.pages, er_.data())))
      map_ok = false, part.pagemap_failed = true;
    for (size_t i = 0; i < c.pages; i++) {
      if (map_ok && skip(ep_[i], er_[i], c.file)) continue;
      add_page(c.start + i * kPage);
    }
    flush();
  }

 private:
  // True when the page is known equal without reading it.
  bool skip(PageEntry p, PageEntry r, bool file_mapping) {
    if (p.present() && r.present()) {
      if (!s_.o.use_frames) return false;
      if (p.pfn() == 0 || r.pfn() == 0) {
        part_->frames_invisible = true;
        return false;
      }
      if (p.pfn() != r.pfn()) return false;
      part_->same_frame++;
      return true;
    }
    if (p.swapped() || r.swapped()) return false;
    if (!p.present() && !r.present()) {
      part_->absent++;  // both read as zero or as the same file page
      return true;
    }
    // One side maps the file's page cache page, the other would fault it in.
    if (file_mapping && (p.present() ? p.file_page() : r.file_page())) {
      part_->file++;
      return true;
    }
    return false;
  }

  void add_page(uint64_t addr) {
    iovec* last = runs_.empty() ? nullptr : &runs_.back();
    if (last && reinterpret_cast<uint64_t>(last->iov_base) + last->iov_len == addr)
      last->iov_len += kPage;
    else
      runs_.push_back({reinterpret_cast<void*>(addr), kPage});
    addrs_.push_back(addr);
    if (addrs_.size() == kBatchPages) flush();
  }

  void flush() {
    if (addrs_.empty()) return;
    const size_t n = addrs_.size();
    unread_.clear();
    s_.pm.read_pages(runs_, bufp_.data(), unread_);
    side_.assign(n, 0);
    for (size_t i : unread_) side_[i] |= 1;  // unreadable in P
    unread_.clear();
    s_.rm.read_pages(runs_, bufr_.data(), unread_);
    for (size_t i : unread_) side_[i] |= 2;  // unreadable in R
    mask_kernel_fields();
    // Pages readable in both (or in neither: both zero-filled, nothing can read
    // them) are compared in segments; a page readable on one side only differs.
    size_t seg = 0;
    for (size_t i = 0; i <= n; i++) {
      const uint8_t side = i < n ? side_[i] : 0;
      if (i < n && (side == 0 || side == 3)) {
        part_->unreadable_both += side == 3;
        continue;
      }
      locate(&bufp_[seg * kPage], &bufr_[seg * kPage], (i - seg) * kPage,
             [&](size_t off, size_t len) { found(seg * kPage + off, len); });
      found_end();
      if (i < n) record(addrs_[i], kPage, &bufp_[i * kPage], &bufr_[i * kPage], side == 1 ? 'P' : 'R', kPage);
      seg = i + 1;
    }
    part_->read += n;
    runs_.clear();
    addrs_.clear();
  }

  // Bytes the kernel writes on its own (rseq cpu ids) take P's value in R's copy.
  void mask_kernel_fields() {
    if (s_.fields.empty()) return;
    for (size_t i = 0; i < addrs_.size(); i++) {
      const uint64_t lo = addrs_[i], hi = lo + kPage;
      auto it = std::lower_bound(s_.fields.begin(), s_.fields.end(), lo,
                                 [](const IgnoredRange& f, uint64_t a) { return f.addr + f.len <= a; });
      for (; it != s_.fields.end() && it->addr < hi; ++it) {
        const uint64_t b = std::max(lo, it->addr), e = std::min(hi, it->addr + it->len);
        if (b < e) memcpy(&bufr_[i * kPage + (b - lo)], &bufp_[i * kPage + (b - lo)], e - b);
      }
    }
  }

  // A differing run of the batch's buffers (at `at`, never across a page), widened
  // by Options::widen within its page and merged with the one before it when in
  // the same page and less than `widen` bytes apart (the bytes between are in the
  // buffers); recorded when the next one cannot join it (found_end: no next).
  void found(size_t at, size_t len) {
    const size_t w = s_.o.widen;
    if (!w) return record(addrs_[at / kPage] + at % kPage, len, &bufp_[at], &bufr_[at], 0, len);
    const size_t page = at / kPage * kPage;
    const size_t lo = at - std::min(w, at - page), hi = std::min(page + kPage, at + len + w);
    if (pending_ && pend_lo_ / kPage * kPage == page && lo <= pend_hi_ + w) {
      pend_hi_ = std::max(pend_hi_, hi), pend_counted_ += len;
      return;
    }
    found_end();
    pending_ = true, pend_lo_ = lo, pend_hi_ = hi, pend_counted_ = len;
  }
  void found_end() {
    if (!pending_) return;
    pending_ = false;
    record(addrs_[pend_lo_ / kPage] + pend_lo_ % kPage, pend_hi_ - pend_lo_, &bufp_[pend_lo_], &bufr_[pend_lo_], 0,
           pend_counted_);
  }

  // Appends a differing range (`counted` of its bytes differ: all but a widened
  // range's margins), merging it with the previous one when contiguous (a run
  // split across two pages), keeping at most max_diffs ranges.
  void record(uint64_t addr, size_t len, const uint8_t* p, const uint8_t* r, char unreadable, size_t counted) {
    part_->in_ranges += counted;
    const bool merge = addr == last_end_ && mergeable_ && !unreadable;
    last_end_ = addr + len;
    mergeable_ = !unreadable;
    if (merge) {
      if (last_kept_) extend(part_->bytes.back(), p, r, len, len, s_.o.max_shown_bytes);
      return;
    }
    last_kept_ = part_->bytes.size() < s_.o.max_diffs;
    if (!last_kept_) {
      part_->more++;
      return;
    }
    ByteDiff d;
    d.addr = addr;
    d.unreadable = unreadable;
    extend(d, p, r, len, len, s_.o.max_shown_bytes);
    part_->bytes.push_back(std::move(d));
  }

 public:
  // Adds `len` differing bytes to d, of which the first `avail` are at p and r;
  // keeps showing bytes while fewer than max_shown are shown.
  static void extend(ByteDiff& d, const uint8_t* p, const uint8_t* r, size_t len, size_t avail,
                     size_t max_shown) {
    d.len += len;
    const size_t n = std::min(max_shown > d.p.size() ? max_shown - d.p.size() : 0, avail);
    d.p.insert(d.p.end(), p, p + n);
    d.r.insert(d.r.end(), r, r + n);
  }

 private:
  Shared& s_;
  Part* part_ = nullptr;
  std::vector<uint8_t> bufp_, bufr_, side_;
  std::vector<PageEntry> ep_, er_;
  std::vector<iovec> runs_;
  std::vector<uint64_t> addrs_;
  std::vector<size_t> unread_;
  bool pending_ = false;    // found() holds a widened range not recorded yet
  size_t pend_lo_ = 0, pend_hi_ = 0, pend_counted_ = 0;  // its buffer offsets, its differing bytes
  uint64_t last_end_ = 0;   // end of the last range recorded
  bool mergeable_ = false;  // the last range may be extended
  bool last_kept_ = false;  // the last range is part_->bytes.back() (else only counted)
};

// Runs every chunk on `threads` workers; parts[i] is chunks[i]'s finding.
std::vector<Part> compare_chunks(Shared& s, const std::vector<Chunk>& chunks, unsigned threads) {
  std::vector<Part> parts(chunks.size());
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_lock;
  auto work = [&] {
    try {
      Worker w(s);
      for (size_t i; (i = next++) < chunks.size();) w.run(chunks[i], parts[i]);
    } catch (...) {
      std::lock_guard<std::mutex> g(error_lock);
      error = std::current_exception();
      next = chunks.size();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; t++) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return parts;
}

// Joins the parts in address order: ranges continuing across chunks are merged,
// the first max_diffs are kept, the rest counted.
void merge_parts(const std::vector<Part>& parts, const Options& o, Result& res) {
  uint64_t last_end = 0;
  bool mergeable = false, last_kept = false;
  for (const Part& part : parts) {
    res.bytes_in_ranges += part.in_ranges;
    res.stats.pages_same_frame += part.same_frame;
    res.stats.pages_absent += part.absent;
    res.stats.pages_file += part.file;
    res.stats.pages_read += part.read;
    res.stats.pages_unreadable_both += part.unreadable_both;
    for (const ByteDiff& d : part.bytes) {
      const bool merge = d.addr == last_end && mergeable && !d.unreadable;
      last_end = d.addr + d.len;
      mergeable = !d.unreadable;
      if (merge) {
        if (last_kept) Worker::extend(res.bytes.back(), d.p.data(), d.r.data(), d.len, d.p.size(), o.max_shown_bytes);
        continue;
      }
      last_kept = res.bytes.size() < o.max_diffs;
      if (last_kept) res.bytes.push_back(d);
      else res.more_byte_diffs++;
    }
    if (part.more) {  // the part's tail was only counted
      res.more_byte_diffs += part.more;
      last_kept = false;
      mergeable = false;
    }
  }
}

// The parts of mapping `m` that may hold pages. A huge mapping (an ASan shadow,
// a reserved heap: up to terabytes) is first scanned for populated ranges in P
// and R: outside them every page is absent in both, so equal, and reading a
// pagemap entry per page there would dominate the whole diff.
std::vector<std::pair<uint64_t, uint64_t>> ranges_to_compare(const Shared& s, const sys::Mapping& m, Stats& st) {
  constexpr uint64_t kScanAbove = uint64_t{4} << 30;
  std::vector<std::pair<uint64_t, uint64_t>> r;
  if (!s.full_why.empty() || m.size() < kScanAbove || !s.pp.populated(m.start, m.end, r) ||
      !s.rp.populated(m.start, m.end, r))
    return {{m.start, m.end}};
  std::sort(r.begin(), r.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (auto [lo, hi] : r) {
    if (!merged.empty() && lo <= merged.back().second) merged.back().second = std::max(merged.back().second, hi);
    else merged.push_back({lo, hi});
  }
  uint64_t covered = 0;
  for (auto [lo, hi] : merged) covered += hi - lo;
  st.pages_unpopulated += (m.size() - covered) / kPage;
  st.pages_total += (m.size() - covered) / kPage;
  return merged;
}

std::vector<sys::Mapping> maps_of(pid_t pid, const char* who) {
  std::vector<sys::Mapping> m = sys::read_maps(pid);
  if (m.empty())
    throw std::runtime_error(std::string(who) + " (pid " + std::to_string(pid) +
                             ") has no mappings: it exited; nothing to compare");
  return m;
}

}  // namespace

std::vector<IgnoredRange> rseq_kernel_fields(uint64_t a, const std::string& thread) {
  // struct rseq: u32 cpu_id_start @0, u32 cpu_id @4, u64 rseq_cs @8, u32 flags @16,
  // u32 node_id @20, u32 mm_cid @24. The kernel writes @0..8 and @20..28.
  return {{a, 8, "rseq cpu_id_start/cpu_id of " + thread},
          {a + 20, 8, "rseq node_id/mm_cid of " + thread}};
}

std::string MappingDiff::describe() const {
  switch (kind) {
    case OnlyInP: return "mapping only in P: " + p.describe();
    case OnlyInR: return "mapping only in R: " + r.describe();
    case Changed: break;
  }
  return "mapping changed: P " + p.describe() + " / R " + r.describe();
}

double Stats::effective_gbps() const {
  return elapsed_s > 0 ? static_cast<double>(pages_total * kPage) / elapsed_s / 1e9 : 0;
}

// Options::coalesce: runs of adjacent private anonymous mappings alike but for
// their split, one mapping each.
static std::vector<sys::Mapping> coalesced(const std::vector<sys::Mapping>& maps) {
  std::vector<sys::Mapping> out;
  for (const sys::Mapping& m : maps) {
    if (!out.empty()) {
      sys::Mapping& last = out.back();
      if (last.end == m.start && last.perms == m.perms && last.path == m.path && last.inode == 0 && m.inode == 0 &&
          !m.shared()) {
        last.end = m.end;
        continue;
      }
    }
    out.push_back(m);
  }
  return out;
}

Result diff_processes(pid_t p, pid_t r, const Options& opts) {
  const auto t0 = std::chrono::steady_clock::now();
  Result res;
  const std::vector<sys::Mapping> pm_all = maps_of(p, "P"), rm_all = maps_of(r, "R");
  std::vector<sys::Mapping> rm, pm;
  const auto agent_region = [&](const sys::Mapping& m) {
    return std::find(opts.agent_regions.begin(), opts.agent_regions.end(), m) != opts.agent_regions.end();
  };
  for (const sys::Mapping& m : rm_all)
    if (!agent_region(m)) rm.push_back(m);
  for (const sys::Mapping& m : pm_all)
    if (!agent_region(m)) pm.push_back(m);
  if (opts.coalesce) pm = coalesced(pm);
  if (opts.coalesce) rm = coalesced(rm);

  Shared shared(p, r, opts);
  std::vector<Chunk> chunks;
  const auto compare = [&](const sys::Mapping& m) {  // its pages, in chunks for the workers
    res.stats.mappings_compared++;
    for (auto [lo, hi] : ranges_to_compare(shared, m, res.stats))
      for (uint64_t at = lo; at < hi; at += kChunkPages * kPage)
        chunks.push_back({at, std::min<uint64_t>(kChunkPages, (hi - at) / kPage), m.inode != 0});
  };
  size_t i = 0, j = 0;
  while (i < pm.size() || j < rm.size()) {
    // The same private mapping grown or shrunk at its end (a brk heap): a change of
    // layout, and their common part compared.
    if (i < pm.size() && j < rm.size() && pm[i].start == rm[j].start && pm[i].end != rm[j].end &&
        pm[i].perms == rm[j].perms && pm[i].path == rm[j].path && pm[i].inode == rm[j].inode && !pm[i].shared() &&
        !kernel_owned(pm[i])) {
      res.mappings.push_back({MappingDiff::Changed, pm[i], rm[j]});
      sys::Mapping common = pm[i];
      common.end = std::min(pm[i].end, rm[j].end);
      compare(common);
      ++i, ++j;
      continue;
    }
    if (j == rm.size() || (i < pm.size() && (pm[i].start < rm[j].start ||
                                             (pm[i].start == rm[j].start && pm[i].end < rm[j].end)))) {
      res.mappings.push_back({MappingDiff::OnlyInP, pm[i++], {}});
      continue;
    }
    if (i == pm.size() || pm[i].start != rm[j].start || pm[i].end != rm[j].end) {
      res.mappings.push_back({MappingDiff::OnlyInR, {}, rm[j++]});
      continue;
    }
    const sys::Mapping &a = pm[i++], &b = rm[j++];
    if (a != b) res.mappings.push_back({MappingDiff::Changed, a, b});
    if (a.shared() && b.shared()) {
      if (a == b) res.stats.mappings_shared++;  // same object: equal by construction
    } else if (!a.shared() && !b.shared() && !kernel_owned(a)) {
      compare(a);
    }
  }
  for (const Chunk& c : chunks) res.stats.pages_total += c.pages;
  const std::vector<Part> parts = compare_chunks(shared, chunks, std::max(1u, opts.threads));
  merge_parts(parts, opts, res);
  // Both must have stayed stopped: the same layout after as before.
  if (sys::read_maps(p) != pm_all || sys::read_maps(r) != rm_all)
    throw std::runtime_error("P or R changed its mappings during the diff: they must stay stopped");
  bool invisible = false, failed = false;
  for (const Part& part : parts) invisible |= part.frames_invisible, failed |= part.pagemap_failed;
  if (!shared.full_why.empty())
    res.stats.mode = "full (" + shared.full_why + "): every page read";
  else if (failed)
    res.stats.mode = "full where pagemap could not be read: those pages read";
  else if (!opts.use_frames)
    res.stats.mode = "full (frames not used, as asked): every page present in P or R read";
  else if (invisible)
    res.stats.mode = "full (physical frames not visible in pagemap: needs CAP_SYS_ADMIN): "
                     "every page present in P or R read";
  else
    res.stats.mode = "frames";
  res.stats.bytes_compared = res.stats.pages_read * kPage;
  res.stats.elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace ttst::diff
