// update_bench — the cost of a ttst-supervise update of kvserver holding N keys
// (default 1,000,000), phase by phase, TTST (--validate-only: forward, backward,
// diff) against --forward-only. Prints figures; not a test.
//
//   bazel run -c opt //supervisor/bench:update_bench -- [N] [runs]
//
// Everything is real: quiesce, fork of R, fork+exec of F to its update point, the
// forward and backward transfers (stfw in the agent), the P/R diff of the whole
// heap. --validate-only keeps P, so every run starts from the same state.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "inject/sys/proc_status.h"
#include "tests/programs/kvserver/kv_client.h"

namespace {

void fill(int port, long n) {
  ttst::test::KvClient c(port);
  // Pipelined in batches of 1000 requests.
  const long batch = 1000;
  for (long i = 0; i < n; i += batch) {
    std::string req;
    long m = std::min(batch, n - i);
    for (long k = 0; k < m; ++k) req += "SET key" + std::to_string(i + k) + " value" + std::to_string(i + k) + "\n";
    c.send(req);
    for (long k = 0; k < m; ++k)
      if (std::string r = c.reply(); r != "OK") {
        std::fprintf(stderr, "fill failed: %s\n", r.c_str());
        std::exit(1);
      }
  }
}

long rss_kib(pid_t pid) { return std::atol(ttst::sys::proc_status_field(pid, "VmRSS").c_str()); }  // "1234 kB"

nlohmann::json run(pid_t pid, const std::string& extra) {
  std::string cmd = "supervisor/ttst-supervise --json --timeout 60s --report-dir /tmp/ttst-bench-reports --pid " +
                    std::to_string(pid) + " --new tests/programs/kvserver/kvserver_v2 -v " + extra +
                    " 2>/tmp/ttst-bench.err";
  FILE* f = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t k;
  while ((k = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, k);
  pclose(f);
  return nlohmann::json::parse(out);
}

}  // namespace

int main(int argc, char** argv) {
  long n = argc > 1 ? std::atol(argv[1]) : 1000000;
  int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  auto kv = ttst::test::KvServer::start("tests/programs/kvserver/kvserver_v1");
  fill(kv.port, n);
  std::printf("kvserver v1 with %ld keys: pid %d, RSS %ld KiB (P alone, before any attempt)\n", n, kv.pid,
              rss_kib(kv.pid));
  for (int r = 0; r < runs; ++r) {
    for (const char* mode : {"--validate-only", "--validate-only --forward-only"}) {
      nlohmann::json rep = run(kv.pid, mode);
      std::printf("%-30s %-14s total %8.1f ms:", mode, rep["reason"].get<std::string>().c_str(),
                  rep["total_ms"].get<double>());
      for (const auto& p : rep["phases"])
        std::printf(" %s %.1f", p["name"].get<std::string>().c_str(), p["ms"].get<double>());
      std::printf("\n");
      std::ifstream err("/tmp/ttst-bench.err");
      for (std::string line; std::getline(err, line);)
        if (line.find("memory (PSS)") != std::string::npos) std::printf("    %s\n", line.c_str());
    }
  }
  kv.kill_and_wait();
}
