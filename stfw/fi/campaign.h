// campaign.h — one fault-injection campaign: what it runs (a program pair, the
// transfer plugin, workload and oracle commands) and how one update attempt is
// run and classified (run_update), and the campaign loop over mutants, parallel
// and resumable (run_campaign). stfw/fi/README.md describes the classification.
#ifndef TTST_STFW_FI_CAMPAIGN_H
#define TTST_STFW_FI_CAMPAIGN_H

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "stfw/fi/mutants.h"

namespace ttst::fi {

struct Config {
  std::string old_exe, new_exe, xfer;  // the program pair and the built plugin ("" none)
  std::string xfer_source, build_xfer;  // the plugin's C file and its build template ({src} {out})
  std::string new_source, build_new;    // v2's C file and its build template ({src} {out})
  std::set<std::string> startup_functions, xfer_functions;
  std::string start, workload, oracle;  // templates: {old} {port}
  std::string supervise;                // the ttst-supervise executable
  std::string supervise_args;           // extra arguments for every attempt
  std::string out;                      // the campaign directory (results.jsonl, work/, charts)
  std::set<std::string> operators;      // empty: every operator but control
  std::string select;                   // a regex over "id description": only those mutants
  int jobs = 1, max_mutants = 500, variants = 1;
  uint64_t seed = 1;
  std::chrono::milliseconds timeout{5000};  // ttst-supervise --timeout
  bool keep = false;                        // keep every attempt's directory
};

// kProbe: --validate-only (the whole TTST run); kProbeForward: --forward-only too.
enum class Mode { kTtst, kForwardOnly, kProbe, kProbeForward };

// The outcome of one attempt.
struct Outcome {
  std::string cls;     // crash hang invariant state_diff refused other benign UNDETECTED ttst_failure setup_failed
  std::string reason;  // the report's reason, or what failed
  std::string detail;  // one line
  int exit = -1;       // ttst-supervise's exit status
  std::string crash_signal;
};

// Starts v1, runs the workload and the oracle, updates to `new_exe` (with
// `plugin`, "" none) in `mode`, and classifies what happened. `slot` names the
// worker (its metadata cache). The attempt's files stay in `dir` (removed by the
// caller).
Outcome run_update(const Config &c, Mode mode, const std::string &new_exe, const std::string &plugin,
                   const std::string &dir, int slot);

// Generates the mutants (both targets), runs them as results.jsonl says is left,
// appends every result there. Returns the process exit status (0 done).
int run_campaign(const Config &c, bool list_only);

std::vector<Mutant> campaign_mutants(const Config &c, std::string *error);

}  // namespace ttst::fi

#endif  // TTST_STFW_FI_CAMPAIGN_H
