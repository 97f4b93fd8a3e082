// bench_stats_test — the figures update_bench derives (bench_stats.h): percentiles,
// the largest response gap, the latencies inside a window, the supervisor's
// progress lines, pre-copy's round window and the roles of sampled processes.
#include "supervisor/bench/bench_stats.h"

#include <doctest/doctest.h>

using namespace ttst::bench;

TEST_CASE("median and nearest-rank percentiles") {
  CHECK(median({}) == 0);
  CHECK(median({3, 1, 2}) == 2);
  CHECK(median({4, 1, 3, 2}) == 2.5);
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(101 - i);  // 100 .. 1, unsorted
  CHECK(percentile(v, 99) == 99);
  CHECK(percentile(v, 50) == 50);
  CHECK(percentile(v, 100) == 100);
  CHECK(percentile(v, 0) == 1);
  CHECK(percentile({7}, 99) == 7);
  CHECK(percentile({}, 99) == 0);
  // One slow request in 200 is beyond p99; two in 100 are not.
  std::vector<double> w(199, 1.0);
  w.push_back(50);
  CHECK(percentile(w, 99) == 1);
  std::vector<double> x(98, 1.0);
  x.push_back(40), x.push_back(50);
  CHECK(percentile(x, 99) == 40);
}

TEST_CASE("the largest gap between replies, the first from the client's start") {
  const std::vector<Request> r{{10, 11}, {11, 12}, {12, 312}, {312, 313}};
  CHECK(largest_gap_ms(r, 10) == 300);
  CHECK(largest_gap_ms(r, 0) == 300);
  CHECK(largest_gap_ms({{0, 500}}, 0) == 500);  // stalled before its first reply
  CHECK(largest_gap_ms({}, 0) == 0);
}

TEST_CASE("latencies within a window leave out the requests a stop at either end delayed") {
  const std::vector<Request> r{{0, 100},  // sent before the window: held by the first stop
                               {100, 101}, {101, 103}, {103, 104},
                               {104, 400}};  // answered after the window: held by the second stop
  const auto l = latencies_within(r, 100, 200);
  REQUIRE(l.size() == 3);
  CHECK(l[0] == 1);
  CHECK(l[1] == 2);
  const LatencySummary s = summarize(l);
  CHECK(s.requests == 3);
  CHECK(s.p50 == 1);
  CHECK(s.p99 == 2);
  CHECK(s.max == 2);
  CHECK(summarize({}).requests == 0);
}

TEST_CASE("ttst-supervise's progress lines are parsed, other lines are not") {
  const auto p = parse_progress("  forward     1234.5 ms\n");
  REQUIRE(p);
  CHECK(p->first == "forward");
  CHECK(p->second == doctest::Approx(1234.5));
  CHECK(parse_progress("  snapshot      12.0 ms")->first == "snapshot");
  CHECK(!parse_progress("ttst-supervise: validated: the update was validated. Report: /tmp/r.json\n"));
  CHECK(!parse_progress("  forward 12.0 ms and more"));
  CHECK(!parse_progress("forward"));
}

TEST_CASE("pre-copy's round: from the snapshot's end to the phase before the first stop") {
  const std::vector<PhaseEnd> ends{{"plan", 5, 5},      {"quiesce", 8, 3},  {"snapshot", 20, 12},
                                   {"create", 30, 10},  {"startup", 50, 20}, {"forward", 400, 350},
                                   {"backward", 700, 300}, {"diff", 710, 10}, {"stop", 712, 2},
                                   {"stop", 730, 4},    {"delta", 740, 10}, {"rollback", 745, 5}};
  const auto round = precopy_round(ends);
  REQUIRE(round);
  CHECK(round->first == 20);
  CHECK(round->second == 710);
  // Ended in the round (no second stop), or no pre-copy at all: no round.
  CHECK(!precopy_round({{"plan", 5, 5}, {"quiesce", 8, 3}, {"snapshot", 20, 12}, {"forward", 40, 20},
                        {"rollback", 45, 5}}));
  CHECK(!precopy_round({{"quiesce", 8, 3}, {"create", 9, 1}, {"stop", 10, 1}}));
}

TEST_CASE("proc_kib reads a key at the start of the text or of a line") {
  const std::string t = "Rss:     1000 kB\nPss:      400 kB\nPss_Anon:   300 kB\nSwap: 0 kB\n";
  CHECK(proc_kib(t, "Rss:") == 1000);
  CHECK(proc_kib(t, "Pss:") == 400);
  CHECK(proc_kib(t, "Pss_Anon:") == 300);
  CHECK(proc_kib(t, "AnonHugePages:") == 0);
}

TEST_CASE("process roles: F by its binary, S and K first under pre-copy, a fork's intermediate apart") {
  std::map<pid_t, SeenProcess> seen{
      {100, {0, 10, 9, false, {}}},  // P
      {210, {1, 50, 8, false, {}}},  // seen in the same sample: K
      {205, {1, 50, 8, false, {}}},  // forked in the same tick with a lower pid: first, so S
      {300, {2, 60, 1, false, {}}},  // seen once: an intermediate
      {320, {2, 61, 5, true, {}}},   // ran v2: F
      {330, {4, 80, 3, false, {}}},  // R
  };
  auto roles = process_roles(100, seen, true);
  CHECK(roles[100] == "P");
  CHECK(roles[205] == "S");
  CHECK(roles[210] == "K");
  CHECK(roles[300] == "v1 clone");
  CHECK(roles[320] == "F");
  CHECK(roles[330] == "R");
  roles = process_roles(100, {{320, {2, 61, 5, true, {}}}, {330, {4, 80, 3, false, {}}}, {340, {6, 90, 3, false, {}}},
                              {350, {7, 95, 3, true, {}}}},
                        false);
  CHECK(roles[320] == "F");
  CHECK(roles[350] == "F2");
  CHECK(roles[330] == "R");
  CHECK(roles[340] == "R2");
}

TEST_CASE("/proc/PID/stat: faults, CPU times and start time, a command with spaces and parentheses") {
  const std::string text =
      "4242 (bank server) (x)) S 1 4242 4242 0 -1 4194560 1234 0 5 0 77 33 0 0 20 0 1 0 987654 10000 200 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  const ProcStat st = parse_stat(text);
  CHECK(st.minflt == 1234);
  CHECK(st.majflt == 5);
  CHECK(st.utime == 77);
  CHECK(st.stime == 33);
  CHECK(st.start_time == 987654);
  CHECK(parse_stat("garbage").utime == 0);
}
