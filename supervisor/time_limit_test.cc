// time_limit_test — the default time limit grows with P's state and never from
// anything the agent says: 5 s for a small program, enough for a healthy 1 M-account
// bankserver (252 MB of state took 7.6 s on the development machine, 330 MiB took
// 23.5 s with its load average at 20), bounded above;
// the state's size read from smaps_rollup text and from a live process.
#include <doctest/doctest.h>

#include <unistd.h>

#include <vector>

#include "supervisor/time_limit.h"

using std::chrono::milliseconds;
using ttst::supervisor::default_time_limit;
using ttst::supervisor::state_bytes_of;
using ttst::supervisor::state_bytes_of_rollup;

TEST_CASE("the default time limit: 5 s for a small state, growing with its size, bounded") {
  CHECK(default_time_limit(0) == milliseconds(5000));
  CHECK(default_time_limit(4 << 20) == milliseconds(5800));
  CHECK(default_time_limit(252ull << 20) >= milliseconds(6 * 7640));  // the 1 M accounts: 6x its time
  CHECK(default_time_limit(330ull << 20) >= milliseconds(2 * 23500));  // bankserver's, under load 20: 2x its time
  CHECK(default_time_limit(1ull << 30) > default_time_limit(252ull << 20));
  CHECK(default_time_limit(1ull << 40) == milliseconds(3600 * 1000));
  CHECK(default_time_limit(~0ull) == milliseconds(3600 * 1000));
}

TEST_CASE("the state's size: Anonymous plus Swap of smaps_rollup") {
  const std::string rollup =
      "55d42a494000-7ffd1ae7f000 ---p 00000000 00:00 0   [rollup]\nRss:   1712 kB\nPss_Anon:  112 kB\n"
      "Anonymous:           112 kB\nLazyFree:  0 kB\nSwap:                  8 kB\nSwapPss:  8 kB\n";
  CHECK(state_bytes_of_rollup(rollup) == (112 + 8) * 1024ull);
  CHECK(state_bytes_of_rollup("Rss: 12 kB\n") == std::nullopt);
  CHECK(state_bytes_of_rollup("") == std::nullopt);
}

TEST_CASE("the state's size of a live process follows what it writes") {
  const auto before = state_bytes_of(getpid());
  REQUIRE(before.has_value());
  std::vector<char> big(64 << 20, 1);  // 64 MiB written
  const auto after = state_bytes_of(getpid());
  REQUIRE(after.has_value());
  CHECK(*after >= *before + (60ull << 20));
  CHECK(big[12345] == 1);
  CHECK(state_bytes_of(0x7ffffff0) == std::nullopt);  // no such process
}
