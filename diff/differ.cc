// differ.cc — the trusted state differencer (see differ.h for what and why).
#include "diff/differ.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "diff/locate.h"
#include "diff/proc_files.h"

namespace diff {
namespace {

constexpr size_t kBatchPages = 64;    // 256 KiB per side: both buffers stay in L2
constexpr size_t kChunkPages = 4096;  // pagemap entries read per call

bool kernel_owned(const Mapping& m) {
  return m.path == "[vvar]" || m.path == "[vvar_vclock]" || m.path == "[vsyscall]";
}

class Comparer {
 public:
  Comparer(pid_t p, pid_t r, const Options& o, Result& res)
      : o_(o), res_(res), pm_(p), rm_(r), pp_(p), rp_(r), fields_(o.kernel_fields) {
    bufp_.resize(kBatchPages * kPage);
    bufr_.resize(kBatchPages * kPage);
    ep_.resize(kChunkPages);
    er_.resize(kChunkPages);
    std::sort(fields_.begin(), fields_.end(),
              [](const IgnoredRange& a, const IgnoredRange& b) { return a.addr < b.addr; });
    if (!o.use_pagemap) full_why_ = "pagemap not used, as asked";
    else if (!pp_.ok()) full_why_ = pp_.error();
    else if (!rp_.ok()) full_why_ = rp_.error();
  }

  void compare_mapping(const Mapping& m) {
    res_.stats.mappings_compared++;
    for (uint64_t a = m.start; a < m.end; a += kChunkPages * kPage) {
      const size_t n = std::min<uint64_t>(kChunkPages, (m.end - a) / kPage);
      res_.stats.pages_total += n;
      bool map_ok = full_why_.empty() && pp_.read(a, n, ep_.data()) && rp_.read(a, n, er_.data());
      if (full_why_.empty() && !map_ok) full_why_ = "pagemap read failed";
      for (size_t i = 0; i < n; i++) {
        if (map_ok && skip(ep_[i], er_[i], m.inode != 0)) continue;
        add_page(a + i * kPage);
      }
    }
  }

  void flush() {
    if (runs_.empty()) return;
    unread_p_.clear();
    unread_r_.clear();
    pm_.read_pages(runs_, bufp_.data(), unread_p_);
    rm_.read_pages(runs_, bufr_.data(), unread_r_);
    // Page index -> address, for mapping buffer offsets back.
    addrs_.clear();
    for (const iovec& r : runs_)
      for (size_t off = 0; off < r.iov_len; off += kPage)
        addrs_.push_back(reinterpret_cast<uint64_t>(r.iov_base) + off);
    handle_unreadable();
    mask_kernel_fields();
    locate(bufp_.data(), bufr_.data(), addrs_.size() * kPage, [&](size_t off, size_t len) {
      record(addrs_[off / kPage] + off % kPage, len, &bufp_[off], &bufr_[off], 0);
    });
    res_.stats.pages_read += addrs_.size();
    res_.stats.bytes_compared += addrs_.size() * kPage;
    runs_.clear();
    batch_pages_ = 0;
  }

  std::string mode() const {
    if (!full_why_.empty()) return "full (" + full_why_ + "): every page read";
    if (!frames_visible_)
      return "full (physical frames not visible in pagemap: needs CAP_SYS_ADMIN): "
             "every page that may differ read";
    return "frames";
  }

 private:
  // True when the page is known equal without reading it.
  bool skip(PageEntry p, PageEntry r, bool file_mapping) {
    if (p.present() && r.present()) {
      if (p.pfn() == 0 || r.pfn() == 0) {
        frames_visible_ = false;
        return false;
      }
      if (p.pfn() != r.pfn()) return false;
      res_.stats.pages_same_frame++;
      return true;
    }
    if (p.swapped() || r.swapped()) return false;
    if (!p.present() && !r.present()) {
      res_.stats.pages_absent++;  // both read as zero or as the same file page
      return true;
    }
    // One side maps the file's page cache page, the other would fault it in.
    if (file_mapping && (p.present() ? p.file_page() : r.file_page())) {
      res_.stats.pages_file++;
      return true;
    }
    return false;
  }

  void add_page(uint64_t addr) {
    if (!runs_.empty()) {
      iovec& last = runs_.back();
      if (reinterpret_cast<uint64_t>(last.iov_base) + last.iov_len == addr) {
        last.iov_len += kPage;
      } else {
        runs_.push_back({reinterpret_cast<void*>(addr), kPage});
      }
    } else {
      runs_.push_back({reinterpret_cast<void*>(addr), kPage});
    }
    if (++batch_pages_ == kBatchPages) flush();
  }

  // A page readable in one process only is a difference; in neither (e.g. beyond
  // the end of a mapped file) nothing can observe it. Either way the buffers are
  // then made equal so locate() does not report the page again.
  void handle_unreadable() {
    auto page = [&](std::vector<uint8_t>& b, size_t i) { return &b[i * kPage]; };
    for (size_t i : unread_p_) {
      bool both = std::find(unread_r_.begin(), unread_r_.end(), i) != unread_r_.end();
      if (both) res_.stats.pages_unreadable_both++;
      else record(addrs_[i], kPage, page(bufp_, i), page(bufr_, i), 'P');
      memcpy(page(bufr_, i), page(bufp_, i), kPage);
    }
    for (size_t i : unread_r_) {
      if (std::find(unread_p_.begin(), unread_p_.end(), i) != unread_p_.end()) continue;
      record(addrs_[i], kPage, page(bufp_, i), page(bufr_, i), 'R');
      memcpy(page(bufr_, i), page(bufp_, i), kPage);
    }
  }

  // Bytes the kernel writes on its own (rseq cpu ids) take P's value in R's copy.
  void mask_kernel_fields() {
    if (fields_.empty()) return;
    for (size_t i = 0; i < addrs_.size(); i++) {
      const uint64_t lo = addrs_[i], hi = lo + kPage;
      auto it = std::lower_bound(fields_.begin(), fields_.end(), lo,
                                 [](const IgnoredRange& f, uint64_t a) { return f.addr + f.len <= a; });
      for (; it != fields_.end() && it->addr < hi; ++it) {
        const uint64_t s = std::max(lo, it->addr), e = std::min(hi, it->addr + it->len);
        if (s < e) memcpy(&bufr_[i * kPage + (s - lo)], &bufp_[i * kPage + (s - lo)], e - s);
      }
    }
  }

  // Appends a differing range, merging it with the previous one when contiguous
  // (a run split across two pages), keeping at most max_diffs ranges.
  void record(uint64_t addr, size_t len, const uint8_t* p, const uint8_t* r, char unreadable) {
    res_.bytes_in_ranges += len;
    const bool merge = addr == last_end_ && mergeable_ && !unreadable;
    last_end_ = addr + len;
    mergeable_ = !unreadable;
    if (merge) {
      if (last_kept_) {
        res_.bytes.back().len += len;
        append(res_.bytes.back(), p, r, len);
      }
      return;
    }
    last_kept_ = res_.bytes.size() < o_.max_diffs;
    if (!last_kept_) {
      res_.more_byte_diffs++;
      return;
    }
    ByteDiff d;
    d.addr = addr;
    d.len = len;
    d.unreadable = unreadable;
    append(d, p, r, len);
    res_.bytes.push_back(std::move(d));
  }

  void append(ByteDiff& d, const uint8_t* p, const uint8_t* r, size_t len) {
    const size_t room = o_.max_shown_bytes > d.p.size() ? o_.max_shown_bytes - d.p.size() : 0;
    const size_t n = std::min(room, len);
    d.p.insert(d.p.end(), p, p + n);
    d.r.insert(d.r.end(), r, r + n);
  }

  const Options& o_;
  Result& res_;
  Memory pm_, rm_;
  Pagemap pp_, rp_;
  std::vector<IgnoredRange> fields_;
  std::string full_why_;
  bool frames_visible_ = true;
  std::vector<uint8_t> bufp_, bufr_;
  std::vector<PageEntry> ep_, er_;
  std::vector<iovec> runs_;
  size_t batch_pages_ = 0;
  std::vector<uint64_t> addrs_;
  std::vector<size_t> unread_p_, unread_r_;
  uint64_t last_end_ = 0;   // end of the last range recorded
  bool mergeable_ = false;  // the last range may be extended
  bool last_kept_ = false;  // the last range is res_.bytes.back() (else only counted)
};

std::vector<Mapping> maps_of(pid_t pid, const char* who) {
  std::vector<Mapping> m = read_maps(pid);
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

Result diff_processes(pid_t p, pid_t r, const Options& opts) {
  const auto t0 = std::chrono::steady_clock::now();
  Result res;
  const std::vector<Mapping> pm = maps_of(p, "P"), rm_all = maps_of(r, "R");
  std::vector<Mapping> rm;
  for (const Mapping& m : rm_all)
    if (std::find(opts.agent_regions.begin(), opts.agent_regions.end(), m) == opts.agent_regions.end())
      rm.push_back(m);

  Comparer cmp(p, r, opts, res);
  size_t i = 0, j = 0;
  while (i < pm.size() || j < rm.size()) {
    if (j == rm.size() || (i < pm.size() && (pm[i].start < rm[j].start ||
                                             (pm[i].start == rm[j].start && pm[i].end < rm[j].end)))) {
      res.mappings.push_back({MappingDiff::OnlyInP, pm[i++], {}});
      continue;
    }
    if (i == pm.size() || pm[i].start != rm[j].start || pm[i].end != rm[j].end) {
      res.mappings.push_back({MappingDiff::OnlyInR, {}, rm[j++]});
      continue;
    }
    const Mapping &a = pm[i++], &b = rm[j++];
    if (a != b) res.mappings.push_back({MappingDiff::Changed, a, b});
    if (a.shared() && b.shared()) {
      if (a == b) res.stats.mappings_shared++;  // same object: equal by construction
    } else if (!a.shared() && !b.shared() && !kernel_owned(a)) {
      cmp.compare_mapping(a);
    }
  }
  cmp.flush();
  // Both must have stayed stopped: the same layout after as before.
  if (read_maps(p) != pm || read_maps(r) != rm_all)
    throw std::runtime_error("P or R changed its mappings during the diff: they must stay stopped");
  res.stats.mode = cmp.mode();
  res.stats.elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace diff
