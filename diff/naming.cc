// naming.cc — naming differences and the human summary (see naming.h).
#include "diff/naming.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace ttst::diff {

std::vector<NamedDiff> name_differences(const Result& res, const StateNamer& namer, Memory& p,
                                        Memory& r, size_t max_values) {
  constexpr uint64_t kMaxValueBytes = 4096;
  constexpr uint64_t kMaxProbes = 4096;  // unnamed words looked up per range
  std::vector<NamedDiff> out;
  std::vector<uint8_t> pb, rb;
  for (const ByteDiff& d : res.bytes) {
    NamedDiff nd;
    nd.diff = &d;
    uint64_t probes = 0;
    for (uint64_t a = d.addr; a < d.addr + d.len && probes < kMaxProbes;) {
      std::optional<Named> n = namer.name(a);
      if (!n) {
        a = (a | 7) + 1;  // next word
        probes++;
        continue;
      }
      a = std::max(a + 1, n->start + n->size);
      if (nd.values.size() == max_values) {
        nd.more_values++;
        continue;
      }
      NamedValue v{*n, "?", "?"};
      const uint64_t len = std::min(n->size, kMaxValueBytes);
      pb.resize(len);
      rb.resize(len);
      if (len == n->size && p.read(n->start, pb.data(), len)) v.p = namer.render(*n, pb.data());
      if (len == n->size && r.read(n->start, rb.data(), len)) v.r = namer.render(*n, rb.data());
      nd.values.push_back(std::move(v));
    }
    out.push_back(std::move(nd));
  }
  return out;
}

static std::string hex(const std::vector<uint8_t>& b, uint64_t len) {
  std::string s;
  char x[4];
  for (uint8_t c : b) {
    snprintf(x, sizeof x, "%02x", c);
    s += x;
  }
  if (len > b.size()) s += "…";
  return s;
}

std::string format_report(const Result& res, const std::vector<NamedDiff>& named) {
  std::string s;
  char line[512];
  const Stats& st = res.stats;
  snprintf(line, sizeof line,
           "%s: %zu mapping difference(s), %" PRIu64 " differing byte range(s)\n"
           "compared %" PRIu64 " pages in %" PRIu64 " private mappings in %.1f ms (%.1f GB/s effective), "
           "mode %s: %" PRIu64 " same frame, %" PRIu64 " absent in both (%" PRIu64 " in unpopulated ranges), %" PRIu64
           " same file page, %" PRIu64 " read (%" PRIu64 " bytes compared), %" PRIu64
           " unreadable in both; %" PRIu64 " shared mappings equal by construction\n",
           res.equal() ? "EQUAL" : "DIFFERENT", res.mappings.size(),
           static_cast<uint64_t>(res.bytes.size()) + res.more_byte_diffs, st.pages_total,
           st.mappings_compared, st.elapsed_s * 1e3, st.effective_gbps(), st.mode.c_str(),
           st.pages_same_frame, st.pages_absent + st.pages_unpopulated, st.pages_unpopulated, st.pages_file, st.pages_read, st.bytes_compared,
           st.pages_unreadable_both, st.mappings_shared);
  s += line;
  for (const MappingDiff& m : res.mappings) s += "  " + m.describe() + "\n";
  for (size_t i = 0; i < res.bytes.size(); i++) {
    const ByteDiff& d = res.bytes[i];
    snprintf(line, sizeof line, "  0x%" PRIx64 " +%" PRIu64 ":", d.addr, d.len);
    s += line;
    if (d.unreadable) s += std::string(" readable only in ") + (d.unreadable == 'P' ? "R" : "P");
    else s += " P " + hex(d.p, d.len) + " R " + hex(d.r, d.len);
    s += "\n";
    if (i < named.size()) {
      for (const NamedValue& v : named[i].values) s += "      " + v.name.path + ": P " + v.p + "  R " + v.r + "\n";
      if (named[i].more_values)
        s += "      … and " + std::to_string(named[i].more_values) + " more value(s)\n";
    }
  }
  if (res.more_byte_diffs) s += "  … and " + std::to_string(res.more_byte_diffs) + " more range(s)\n";
  return s;
}

}  // namespace ttst::diff
