// xfer_bench.cc — forward and backward state transfer of a big heap, on real
// processes (a command that prints figures, not a test):
//   bazel run -c opt //stfw/bench:xfer_bench -- [objects=1000000]
// P = bench_v1 with N objects of 128 bytes (2 pointers each, 5 struct types, one
// of which v2 changes: 20% of the objects), F = bench_v2 at its update point,
// R = reversed clone of P. Prints wall times of the agent runs and the agent's own
// per-phase figures, and checks R == P with //diff.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "inject/tests/test_util.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/xfer_fixture.h"

using namespace std::chrono;
using ttst::stfw::testing::RoundTrip;

static uint64_t rdtsc() {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t(hi) << 32) | lo;
}

static void phases(const char* what, const ttst::inject::AgentOutcome& o, double ghz, double wall_ms) {
  std::string line(reinterpret_cast<const char*>(o.output.data()),
                   strnlen(reinterpret_cast<const char*>(o.output.data()), o.output.size()));
  std::printf("%s: %s, status %lld, wall %.1f ms (agent run incl. region setup)\n", what, o.describe().c_str(),
              (long long)o.status, wall_ms);
  if (o.status != 0) {
    std::printf("  %s\n", line.c_str());
    return;
  }
  std::printf("  objects %llu, bytes %llu, pointers %llu, transforms %llu\n", (unsigned long long)o.detail[0],
              (unsigned long long)o.detail[1], (unsigned long long)o.detail[2], (unsigned long long)o.detail[3]);
  const char* keys[] = {"copy_cycles=", "index_cycles=", "type_cycles=", "map_cycles=", "write_cycles="};
  std::printf("  phases:");
  for (const char* k : keys) {
    auto p = line.find(k);
    if (p == std::string::npos) continue;
    double c = std::strtod(line.c_str() + p + std::strlen(k), nullptr);
    std::printf(" %.*s %.1f ms", int(std::strlen(k) - 8), k, c / ghz / 1e6);
  }
  auto cpu = line.find("cpu_ns=");
  if (cpu != std::string::npos) std::printf(" cpu %.1f ms", std::strtod(line.c_str() + cpu + 7, nullptr) / 1e6);
  auto p = line.find("copy_bytes=");
  if (p != std::string::npos) std::printf(" (copied %s)", line.substr(p + 11, line.find(' ', p) - p - 11).c_str());
  std::printf("\n  agent: %s\n", line.c_str());
}

int main(int argc, char** argv) {
  long n = argc > 1 ? std::atol(argv[1]) : 1000000;
  uint64_t c0 = rdtsc();
  auto t0 = steady_clock::now();
  std::this_thread::sleep_for(milliseconds(200));
  double ghz = double(rdtsc() - c0) / double(duration_cast<nanoseconds>(steady_clock::now() - t0).count());
  RoundTrip rt;
  rt.v1 = ttst::inject::testing::runfile("stfw/bench/bench_v1");
  rt.v2 = ttst::inject::testing::runfile("stfw/bench/bench_v2");
  rt.args = {std::to_string(n)};
  rt.heap_size = uint64_t(n) * 800 + (256 << 20);
  auto s0 = steady_clock::now();
  rt.start();
  std::printf("objects %ld (x128 bytes, 2 pointers each; struct e changed: 20%%), TSC %.2f GHz, setup %.0f ms\n", n,
              ghz, duration<double, std::milli>(steady_clock::now() - s0).count());
  auto f0 = steady_clock::now();
  auto fw = rt.forward();
  double forward_ms = duration<double, std::milli>(steady_clock::now() - f0).count();
  phases("forward", fw, ghz, forward_ms);
  if (fw.status != 0) return 1;
  auto b0 = steady_clock::now();
  auto bw = rt.backward();
  phases("backward", bw, ghz, duration<double, std::milli>(steady_clock::now() - b0).count());
  if (bw.status != 0) return 1;
  auto d0 = steady_clock::now();
  std::string diff = rt.compare();
  std::printf("P vs R: %s (diff %.0f ms)\n", diff.empty() ? "equal byte for byte" : diff.substr(0, 400).c_str(),
              duration<double, std::milli>(steady_clock::now() - d0).count());
  std::printf("goal: forward <= 150 ms: %s (this run %.0f ms)\n", forward_ms <= 150 ? "met" : "missed", forward_ms);
  return diff.empty() ? 0 : 1;
}
