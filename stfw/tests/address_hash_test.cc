// address_hash_test — the engine's address-keyed tables spread aligned addresses
// at constant strides over their slots (stfw/xfer/address_hash.h): inserting into a
// linear-probing table half full takes few probes on average. With the low bits of
// key * golden ratio (the engine before), addresses at a 16 KiB stride (memcached
// 1.6's read buffers on its free list) all shared one home slot: the run was the
// whole table, and n insertions cost n^2 / 2 probes.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "stfw/xfer/address_hash.h"

using ttst::stfw::address_slot;

namespace {

// Inserts `n` keys base + k * stride into a table of `capacity` slots by linear
// probing; returns the mean number of probes per insertion (random keys: about 1.5).
double mean_probes(uint64_t base, uint64_t stride, uint64_t n, uint64_t capacity) {
  std::vector<uint64_t> slots(capacity, 0);
  uint64_t total = 0;
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t key = base + k * stride, probes = 1;
    for (uint64_t h = address_slot(key, capacity); slots[h] != 0; h = (h + 1) & (capacity - 1)) ++probes;
    for (uint64_t h = address_slot(key, capacity);; h = (h + 1) & (capacity - 1))
      if (slots[h] == 0) {
        slots[h] = key;
        break;
      }
    total += probes;
  }
  return double(total) / double(n);
}

}  // namespace

TEST_CASE("aligned addresses at power-of-two strides spread over the table") {
  for (uint64_t stride : {16ull, 64ull, 4096ull, 16384ull, 1ull << 20}) {
    CAPTURE(stride);
    // 32,768 keys in 65,536 slots (the engine keeps its tables at most half full).
    CHECK(mean_probes(0x7f0000000000ull, stride, 1 << 15, 1 << 16) < 3);
  }
}

TEST_CASE("slab-item strides (multiples of 8, odd factors) spread too") {
  for (uint64_t stride : {48ull, 96ull, 120ull, 1184ull, 524288ull + 8}) {
    CAPTURE(stride);
    CHECK(mean_probes(0x55555555a010ull, stride, 1 << 15, 1 << 16) < 3);
  }
}

TEST_CASE("every slot is inside the table, including the smallest tables") {
  CHECK(address_slot(0x1234, 1) == 0);
  for (uint64_t capacity : {2ull, 1024ull, 1ull << 30})
    for (uint64_t key : {0ull, 1ull, 0x7fffffffffffull, ~0ull}) CHECK(address_slot(key, capacity) < capacity);
}
