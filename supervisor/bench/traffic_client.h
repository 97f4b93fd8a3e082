// traffic_client — the client update_bench runs against bankserver during an
// update: one connection, requests sent back to back, every request's send and
// reply time recorded (bench_stats.h derives the stall and the latencies). What the
// requests are is the traffic: reads leave P's state as it was, writes change it
// (pre-copy's second stop then finds a delta).
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "supervisor/bench/bench_stats.h"
#include "tests/programs/kvserver/kv_client.h"

namespace ttst::bench {

// read:  "BAL acct1" (one account, as before: no state changed)
// write: "DEPOSIT acctN 1" over the preloaded accounts in a scattered order: a
//        balance changed and a transaction appended (a new heap object) each time
// mixed: one DEPOSIT in every 10 requests, BAL otherwise
enum class Traffic { kRead, kWrite, kMixed };
const char* traffic_name(Traffic t);
bool parse_traffic(const std::string& text, Traffic* out);

class TrafficClient {
 public:
  // Starts sending at once; `accounts` is how many bankserver preloaded.
  TrafficClient(int port, Traffic traffic, long accounts);
  ~TrafficClient() { stop(); }
  void stop();
  long requests() const { return count_; }
  double start_ms() const { return start_ms_; }
  // Valid after stop(): every request, in order.
  const std::vector<Request>& log() const { return log_; }
  long bad_replies() const { return bad_; }

 private:
  void loop();
  std::string next_request(long i) const;

  ttst::test::KvClient client_;
  Traffic traffic_;
  long accounts_;
  double start_ms_ = 0;
  std::vector<Request> log_;
  std::atomic<bool> done_{false};
  std::atomic<long> count_{0}, bad_{0};
  std::thread thread_;
};

// The bench's clock: ms since the bench started (steady clock), shared by the
// client, the supervisor's progress lines and the memory sampler.
double now_ms();

}  // namespace ttst::bench
