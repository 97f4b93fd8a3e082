// address_hash.h — the slot of an address (or any 64-bit key) in one of the
// engine's open-addressing tables of a power-of-two capacity. UNTRUSTED,
// freestanding, header only.
//
// Why a helper: the tables used to take the LOW bits of key * golden ratio. A
// product's low k bits depend only on the key's low k bits, and the keys are
// addresses of heap blocks and slab items, aligned and at constant strides (16 KB
// read buffers on memcached 1.6's free list: the low 14 bits always zero): all of
// them fell into a few slots, linear probing made one cluster of the whole table,
// and every insertion and lookup walked it (a backward run of memcached 1.6 with
// 100,000 keys spent 27.8 s in free_element_at). Now every bit of the key is mixed
// (MurmurHash3's 64-bit finaliser) and the top bits taken: addresses at any stride
// spread like random keys (the high bits of key * golden ratio alone still cluster
// at strides of 48 and 96 bytes: 7 and 13 probes per insertion half full).
#ifndef TTST_STFW_XFER_ADDRESS_HASH_H
#define TTST_STFW_XFER_ADDRESS_HASH_H

#include <stdint.h>

namespace ttst::stfw {

// The home slot of `key` in a table of `capacity` slots (a power of two, >= 1).
inline uint64_t address_slot(uint64_t key, uint64_t capacity) {
  if (capacity <= 1) return 0;
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  key *= 0xc4ceb9fe1a85ec53ull;
  key ^= key >> 33;
  return key >> (64 - __builtin_ctzll(capacity));  // the top log2(capacity) bits
}

}  // namespace ttst::stfw

#endif
