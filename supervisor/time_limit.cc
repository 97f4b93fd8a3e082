// time_limit.cc — see time_limit.h.
#include "supervisor/time_limit.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace ttst::supervisor {

std::chrono::milliseconds default_time_limit(uint64_t state_bytes) {
  constexpr uint64_t kBaseMs = 5000, kMsPerMiB = 200, kMaxMs = 3600 * 1000;
  const uint64_t mib = state_bytes >> 20;
  const uint64_t ms = mib > (kMaxMs - kBaseMs) / kMsPerMiB ? kMaxMs : kBaseMs + mib * kMsPerMiB;
  return std::chrono::milliseconds(static_cast<long long>(std::min(ms, kMaxMs)));
}

std::optional<uint64_t> state_bytes_of_rollup(const std::string& smaps_rollup) {
  std::istringstream in(smaps_rollup);
  std::string line;
  uint64_t kib = 0;
  bool found = false;
  while (std::getline(in, line)) {
    for (const char* key : {"Anonymous:", "Swap:"}) {
      const std::string k = key;
      if (line.compare(0, k.size(), k) != 0) continue;
      std::istringstream value(line.substr(k.size()));
      uint64_t v = 0;
      if (value >> v) {
        kib += v;
        found = true;
      }
    }
  }
  if (!found) return std::nullopt;
  return kib * 1024;
}

std::optional<uint64_t> state_bytes_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return state_bytes_of_rollup(text.str());
}

}  // namespace ttst::supervisor
