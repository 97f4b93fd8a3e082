// naming.h — differences named for people: the interface the report uses to turn
// an address into "global.member[3]" or "heap object <site> #<id> +off → member"
// and to render P's and R's values by type. Naming only reads P and R and never
// changes a verdict: Result::equal() alone decides.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "diff/differ.h"
#include "diff/proc_files.h"

namespace ttst::diff {

struct Named {
  std::string path;   // "conf.ports[3]", "heap object srv.c:42 #17 +24 → next"
  uint64_t start = 0; // the named value's extent: a whole leaf value (an int, a
  uint64_t size = 0;  // pointer, a short char array), containing the address
  uint32_t type = 0;  // the namer's own handle, given back to render()
};

class StateNamer {
 public:
  virtual ~StateNamer() = default;
  // The value containing `addr`, or nothing when the address belongs to no known
  // object (stack, libc's data, allocator metadata, padding the namer skips).
  virtual std::optional<Named> name(uint64_t addr) const = 0;
  // `bytes` holds n.size bytes of one process at n.start.
  virtual std::string render(const Named& n, const uint8_t* bytes) const = 0;
};

struct NamedValue {
  Named name;
  std::string p, r;  // rendered values in P and in R
};

struct NamedDiff {
  const ByteDiff* diff = nullptr;  // into the Result
  std::vector<NamedValue> values;  // named values the range touches, in order
  uint64_t more_values = 0;        // values beyond the cap
};

// Names every kept byte range of `res` (at most `max_values` values per range);
// values are read from P and R with `p` and `r`.
std::vector<NamedDiff> name_differences(const Result& res, const StateNamer& namer, Memory& p,
                                        Memory& r, size_t max_values = 8);

// The human summary: verdict, statistics, mapping differences, and each byte
// range with its names and values (or hex bytes when nothing names it).
std::string format_report(const Result& res, const std::vector<NamedDiff>& named);

}  // namespace ttst::diff
