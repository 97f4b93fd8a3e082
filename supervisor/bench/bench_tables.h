// bench_tables — update_bench's output: the tables (medians per size; the default
// ones in the format the supervisor README's tables come from), pre-copy's cost to
// the serving P, the memory at the peak process by process, every run with
// --verbose, and the Figure 5 PNG.
#pragma once

#include <vector>

#include "supervisor/bench/bench_run.h"

namespace ttst::bench {

void print_tables(const std::vector<SizeResult>& results, const Options& o);
void draw_figure5(const std::vector<SizeResult>& results, const Options& o);

}  // namespace ttst::bench
