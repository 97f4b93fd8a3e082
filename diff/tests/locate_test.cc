// locate_test — memcmp-then-locate finds exactly the differing bytes.
#include <doctest/doctest.h>

#include <random>
#include <utility>
#include <vector>

#include "diff/locate.h"

using Ranges = std::vector<std::pair<size_t, size_t>>;

static Ranges run(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  Ranges out;
  ttst::diff::locate(a.data(), b.data(), a.size(), [&](size_t o, size_t l) { out.push_back({o, l}); });
  return out;
}

TEST_CASE("equal buffers have no differences") {
  std::vector<uint8_t> a(3 * 4096, 7), b = a;
  CHECK(run(a, b).empty());
}

TEST_CASE("one byte, one bit, at every position of a word and at the edges") {
  std::vector<uint8_t> a(2 * 4096, 0x5a);
  for (size_t pos : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(4095), size_t(4096), size_t(8191)}) {
    std::vector<uint8_t> b = a;
    b[pos] ^= 0x10;
    CHECK(run(a, b) == Ranges{{pos, 1}});
  }
}

TEST_CASE("adjacent differing words form one range trimmed to the differing bytes") {
  std::vector<uint8_t> a(4096, 0), b = a;
  b[13] = 1;  // word 1
  b[17] = 1;  // word 2
  b[40] = 1;  // word 5: separated by equal words 3 and 4
  CHECK(run(a, b) == Ranges{{13, 5}, {40, 1}});
}

TEST_CASE("a run is cut at a 4 KiB block boundary") {
  std::vector<uint8_t> a(8192, 0), b = a;
  for (size_t i = 4090; i < 4100; i++) b[i] = 0xff;
  CHECK(run(a, b) == Ranges{{4090, 6}, {4096, 4}});
}

TEST_CASE("random differences are all found, and nothing else") {
  std::mt19937_64 rng(12345);
  std::vector<uint8_t> a(64 * 4096);
  for (auto& x : a) x = static_cast<uint8_t>(rng());
  std::vector<uint8_t> b = a;
  std::vector<bool> differs(a.size());
  for (int k = 0; k < 500; k++) {
    size_t pos = rng() % a.size();
    b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
    differs[pos] = a[pos] != b[pos];
  }
  std::vector<bool> covered(a.size());
  for (auto [o, l] : run(a, b)) {
    CHECK(a[o] != b[o]);
    CHECK(a[o + l - 1] != b[o + l - 1]);
    for (size_t i = o; i < o + l; i++) covered[i] = true;
  }
  for (size_t i = 0; i < a.size(); i++)
    if (differs[i]) CHECK(covered[i]);
}
