// address_order.h — the object table's order by source address (engine_index.cc),
// built from a heap walk that is *mostly* in order. UNTRUSTED, freestanding, header only.
//
// Why: the heap lists are newest first, so the reversed walk is usually ascending,
// but rarely all of it (a block reusing freed memory lands below its neighbours, an
// mmapped one far above, F's start-up objects precede the transferred ones). One
// such block used to send the whole table (3 M objects for bankserver at 1 M accounts)
// through a radix sort: 2 x 16 bytes of keys per object, fresh memory, three passes
// (~60 ms each way). Here the ascending run stays where it is and only the blocks out
// of it are sorted aside and merged in from the end.
#ifndef TTST_STFW_XFER_ADDRESS_ORDER_H
#define TTST_STFW_XFER_ADDRESS_ORDER_H

#include <stdint.h>

namespace ttst::stfw {

struct AddressKey {
  uint64_t addr;
  uint64_t index;
};

// Sorts `n` keys by address, stably (insertion sort for a few; else LSD radix sort,
// 16 bits per pass over the 48 bits of a user-space address, through `tmp` of n keys
// and `bucket` of 65,536 counters). Returns the sorted keys: `keys` or `tmp`.
inline AddressKey* sort_address_keys(AddressKey* keys, AddressKey* tmp, uint32_t* bucket, uint32_t n) {
  if (n <= 32) {
    for (uint32_t i = 1; i < n; ++i)
      for (uint32_t j = i; j > 0 && keys[j - 1].addr > keys[j].addr; --j) {
        AddressKey swap = keys[j];
        keys[j] = keys[j - 1], keys[j - 1] = swap;
      }
    return keys;
  }
  for (int pass = 0; pass < 3; ++pass) {
    for (uint32_t k = 0; k < 65536; ++k) bucket[k] = 0;
    for (uint32_t i = 0; i < n; ++i) bucket[(keys[i].addr >> (16 * pass)) & 0xffff]++;
    uint32_t sum = 0;
    for (uint32_t k = 0; k < 65536; ++k) {
      uint32_t count = bucket[k];
      bucket[k] = sum, sum += count;
    }
    for (uint32_t i = 0; i < n; ++i) tmp[bucket[(keys[i].addr >> (16 * pass)) & 0xffff]++] = keys[i];
    AddressKey* swap = keys;
    keys = tmp, tmp = swap;
  }
  return keys;
}

// The buffers of merge_mostly_ascending: `aside` and `tmp` of `limit` keys each (the
// first `aside_count` of `aside` already filled: the globals), `bucket` of 65,536.
struct AsideBuffers {
  AddressKey* aside;
  AddressKey* tmp;
  uint32_t* bucket;
  uint32_t aside_count, limit;
};

// `next(k, &addr, &index)` gives the k-th of `count` blocks in walk order reversed.
// Writes every block and every key aside, by ascending address, to out_addr /
// out_index (aside_count + count entries). A block below the run's last one is a
// dip (aside) when the block after it continues the run; otherwise the run's last
// blocks above it, when there are at most kSpike, are a spike (they go aside and it
// joins the run). More than `limit` aside: false (sort otherwise).
template <class Next>
bool merge_mostly_ascending(uint32_t count, Next next, AsideBuffers b, uint32_t* out_index, uint64_t* out_addr) {
  constexpr uint32_t kSpike = 16;
  uint32_t run = 0, m = b.aside_count;
  uint64_t addr = 0, index = 0, next_addr = 0, next_index = 0;
  if (count) next(0, &next_addr, &next_index);
  for (uint32_t k = 0; k < count; ++k) {
    addr = next_addr, index = next_index;
    if (k + 1 < count) next(k + 1, &next_addr, &next_index);
    if (run == 0 || out_addr[run - 1] <= addr) {
      out_index[run] = uint32_t(index), out_addr[run++] = addr;
      continue;
    }
    uint32_t above = 0;  // the run's last blocks above this one (up to kSpike + 1)
    while (above <= kSpike && above < run && out_addr[run - 1 - above] > addr) ++above;
    const bool dip = above > kSpike || (k + 1 < count && next_addr >= out_addr[run - 1]);
    if (m + (dip ? 1 : above) > b.limit) return false;
    if (dip) {
      b.aside[m++] = {addr, index};
      continue;
    }
    for (; above > 0; --above) --run, b.aside[m++] = {out_addr[run], out_index[run]};
    out_index[run] = uint32_t(index), out_addr[run++] = addr;
  }
  const AddressKey* keys = sort_address_keys(b.aside, b.tmp, b.bucket, m);
  uint32_t i = run, j = m;
  for (uint32_t out = run + m; out > 0;) {  // from the end: the run's slots are read before written
    --out;
    if (j > 0 && (i == 0 || keys[j - 1].addr > out_addr[i - 1]))
      --j, out_index[out] = uint32_t(keys[j].index), out_addr[out] = keys[j].addr;
    else
      --i, out_index[out] = out_index[i], out_addr[out] = out_addr[i];
  }
  return true;
}

}  // namespace ttst::stfw

#endif
