// advised_fix.h — the proof that a refusal's advice is a line the tools accept: the
// fix the report's advice names (stfw/xfer/refusal_advice.cc: "add TTST_K(args);
// to the new version (ttst.h; or ttst-cc's TTST_ANNOTATIONS="K(args)")") parsed,
// and the new version rebuilt with it, either way, so a test can run the update
// again and see it pass or move on.
#pragma once

#include <string>

namespace ttst::testutil {

struct AdvisedFix {
  std::string header_line;  // "TTST_IXFER(struct list_item.where);" (empty: none advised)
  std::string annotations;  // "IXFER(struct list_item.where)": ttst-cc's TTST_ANNOTATIONS form
};

// The first fix (of kind `kind`, "IXFER", "TAGGED", ...; empty: any) the advice names.
AdvisedFix advised_fix(const std::string& advice, const std::string& kind = "");

// Builds `source` (a runfiles path) with ttst-cc and `flags` into tmpdir()/`name`:
// the fix as a ttst.h line after the source (`in_source`) or through
// TTST_ANNOTATIONS. Returns the program's path ("" when the build failed; its
// output is echoed to stderr).
std::string build_with_fix(const std::string& source, const std::string& flags, const AdvisedFix& fix,
                           bool in_source, const std::string& name);

}  // namespace ttst::testutil
