// address_order_test — the object table's order (stfw/xfer/address_order.h): a walk
// mostly ascending with spikes and dips, a descending one, a random one and one with
// the globals aside all come out sorted by address, every index once, as std::sort
// gives them; more out of order than the limit is refused (the radix sort's case).
#include "stfw/xfer/address_order.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

using ttst::stfw::AddressKey;
using ttst::stfw::AsideBuffers;
using ttst::stfw::merge_mostly_ascending;

namespace {

struct Outcome {
  bool merged = false;
  std::vector<uint64_t> addr;
  std::vector<uint32_t> index;
};

// `globals` go aside first (indices 0..), then the walk (indices after them).
Outcome order(const std::vector<uint64_t>& globals, const std::vector<uint64_t>& walk, uint32_t limit) {
  std::vector<AddressKey> aside(limit), tmp(limit);
  std::vector<uint32_t> bucket(65536);
  AsideBuffers b{aside.data(), tmp.data(), bucket.data(), 0, limit};
  for (uint64_t g : globals) b.aside[b.aside_count] = {g, b.aside_count}, b.aside_count++;
  Outcome out;
  out.addr.resize(globals.size() + walk.size()), out.index.resize(globals.size() + walk.size());
  const uint32_t first = uint32_t(globals.size());
  out.merged = merge_mostly_ascending(
      uint32_t(walk.size()), [&](uint32_t k, uint64_t* a, uint64_t* i) { *a = walk[k], *i = first + k; }, b,
      out.index.data(), out.addr.data());
  return out;
}

void check_sorted(const std::vector<uint64_t>& globals, const std::vector<uint64_t>& walk, const Outcome& out) {
  std::vector<uint64_t> all = globals;
  all.insert(all.end(), walk.begin(), walk.end());
  std::vector<uint64_t> expected = all;
  std::sort(expected.begin(), expected.end());
  CHECK(out.addr == expected);
  std::vector<uint32_t> seen = out.index;
  std::sort(seen.begin(), seen.end());
  for (uint32_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == i);  // each block once
  for (uint32_t i = 0; i < out.index.size(); ++i) CHECK(all[out.index[i]] == out.addr[i]);  // address with its index
}

}  // namespace

TEST_CASE("mostly ascending with spikes and dips: sorted with few keys aside") {
  std::vector<uint64_t> walk;
  for (uint64_t k = 0; k < 100000; ++k) {
    walk.push_back(0x555500000000 + k * 48);
    if (k % 997 == 0) walk.push_back(0x7f0000000000 + k * 4096);  // a spike (an mmapped block)
    if (k % 1499 == 0) walk.push_back(0x7f1000000000 + k * 4096), walk.push_back(0x7f1000000010 + k * 4096);
    if (k % 1009 == 0) walk.push_back(0x555400000000 + k * 16);  // a dip (reused freed memory)
  }
  const std::vector<uint64_t> globals = {0x555400001000, 0x5554000000a0, 0x7ffff0000000, 0x555500000008};
  Outcome out = order(globals, walk, 1000);
  REQUIRE(out.merged);
  check_sorted(globals, walk, out);
}

TEST_CASE("a run of dips, spikes at the start and at the end, equal neighbours") {
  std::vector<uint64_t> walk = {900, 10, 20, 30, 1000, 1001, 40, 50, 5, 6, 7, 8, 60, 60, 70, 2000, 2001};
  Outcome out = order({3, 55}, walk, 64);
  REQUIRE(out.merged);
  check_sorted({3, 55}, walk, out);
}

TEST_CASE("descending and random walks: sorted, or refused beyond the limit") {
  std::vector<uint64_t> descending;
  for (uint64_t k = 0; k < 5000; ++k) descending.push_back(0x600000 - k * 32);
  Outcome small = order({}, descending, 10000);  // room for all: still sorted
  REQUIRE(small.merged);
  check_sorted({}, descending, small);
  CHECK_FALSE(order({}, descending, 100).merged);  // too many aside

  std::mt19937_64 random(15);
  std::vector<uint64_t> shuffled;
  for (uint64_t k = 0; k < 20000; ++k) shuffled.push_back((random() & 0xffffffffffffull) & ~15ull);
  Outcome out = order({0x1000, 0x2000}, shuffled, 40000);
  REQUIRE(out.merged);
  check_sorted({0x1000, 0x2000}, shuffled, out);
}
