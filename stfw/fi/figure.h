// figure.h — the campaign's Figure 6: the table of outcomes by fault type, with
// TTST and with the forward-only baseline, printed and drawn as PNG bar charts.
#ifndef TTST_STFW_FI_FIGURE_H
#define TTST_STFW_FI_FIGURE_H

#include <string>

namespace ttst::fi {

// Reads DIR/results.jsonl, prints the table and the summary on stdout, writes
// DIR/figure6.png and DIR/ttst_vs_forward_only.png. 0 on success, 2 without results.
int print_figure(const std::string &dir);

}  // namespace ttst::fi

#endif  // TTST_STFW_FI_FIGURE_H
