// update_bench — downtime at scale (issue 15): ttst-supervise updating bankserver
// (tests/programs/bankserver) v1 -> v2 at several state sizes, TTST against
// --forward-only, with what a client feels. Prints figures and draws the paper's
// Figure 5 analogue; not a test (no timing is asserted anywhere).
//
//   bazel run -c opt //supervisor/bench:update_bench -- [--sizes 10000,100000,1000000]
//       [--runs 5] [--png /tmp/update_bench.png] [--precopy 1] [--idle 1]
//       [--traffic read|write|mixed] [--commit 1] [--verbose 1] [--sample-ms 100]
//       [--pause-ms 0]
//
// Per size: bankserver v1 started with that many accounts preloaded; then `runs`
// rounds, each one TTST run (--validate-only: plan, quiesce, F, forward, R, backward,
// diff, rolled back) and one --forward-only run, their order alternated round by
// round. --validate-only keeps P, so every run starts from the same state (but for
// what write traffic added); its stall is P stopped until the rollback resumes it.
// --commit 1 commits instead, P restarted for each run, so the commit's own steps
// are in the figures (the whole update is reported without the grace period).
// During each run (bench_run.h):
// - a client sends requests back to back on one connection (traffic_client.h:
//   read, write or mixed); its largest gap between two replies is the stall it saw;
// - a sampler reads P's and its update's processes' memory every --sample-ms ms
//   at most, sooner while a sample is cheap (0: none): the peak of the PSS sum,
//   and who held what at that instant.
// --precopy 1 adds a third run to each round, TTST with --precopy (supervisor/README
// "Pre-copy"), in the rotated order; its verdicts are counted, and P's p99 latency
// during the round (between its two stops) is set against its idle p99 (the same
// client, no update, as long as the round, right after). --idle 1 sends no
// requests during the runs (P idle, as pre-copy's best case). --verbose 1 prints
// every run's phases and the machine's counters (page faults, compaction, reclaim).
// --pause-ms MS waits that long before each run: an update long after anything else
// freed memory, whose new memory then costs what it costs cold (on this VM the
// guest returns freed memory to the hypervisor within seconds; back to back, a run
// reuses what the last one freed). The default time limit is used (no --timeout:
// supervisor/time_limit.h). Medians
// over the runs; the machine's load average before and after each size.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "supervisor/bench/bench_run.h"
#include "supervisor/bench/bench_tables.h"
#include "supervisor/bench/supervise_run.h"

namespace {

using ttst::bench::Options;

bool parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string opt = argv[i], value = argv[i + 1];
    if (opt == "--sizes") {
      o.sizes.clear();
      std::istringstream list(value);
      for (std::string n; std::getline(list, n, ',');) o.sizes.push_back(std::atol(n.c_str()));
    } else if (opt == "--runs") {
      o.runs = std::max(1, std::atoi(value.c_str()));
    } else if (opt == "--png") {
      o.png = value;
    } else if (opt == "--precopy" || opt == "--idle" || opt == "--commit" || opt == "--verbose") {
      (opt == "--precopy" ? o.precopy : opt == "--idle" ? o.idle : opt == "--commit" ? o.commit : o.verbose) =
          value == "1";
    } else if (opt == "--sample-ms") {
      o.sample_ms = std::max(0, std::atoi(value.c_str()));
    } else if (opt == "--pause-ms") {
      o.pause_ms = std::max(0, std::atoi(value.c_str()));
    } else if (opt != "--traffic" || !ttst::bench::parse_traffic(value, &o.traffic)) {
      return false;
    }
  }
  return argc % 2 == 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, o)) {
    std::fprintf(stderr, "update_bench: bad option (--sizes N,M --runs R --png FILE --precopy 0|1 --idle 0|1 "
                 "--traffic read|write|mixed --commit 0|1 --verbose 0|1 --sample-ms MS --pause-ms MS)\n");
    return 2;
  }
  if (o.idle) std::printf("P idle during the runs (--idle 1): no client stall measured\n");
  if (o.pause_ms) std::printf("a pause of %d ms before each run (--pause-ms: the update's new memory cold)\n", o.pause_ms);
  std::vector<ttst::bench::SizeResult> results;
  std::printf("machine: %ld cores, %s", sysconf(_SC_NPROCESSORS_ONLN), ttst::bench::slurp("/proc/sys/kernel/osrelease").c_str());
  for (long n : o.sizes) {
    std::fprintf(stderr, "bankserver with %ld accounts...\n", n);
    results.push_back(ttst::bench::measure(n, o));
  }
  ttst::bench::print_tables(results, o);
  ttst::bench::draw_figure5(results, o);
}
