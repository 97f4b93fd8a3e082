// locate.cc — memcmp-then-locate (see locate.h).
#include "diff/locate.h"

#include <cstring>

namespace ttst::diff {

static uint64_t word(const uint8_t* p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

void locate(const uint8_t* a, const uint8_t* b, size_t n,
            const std::function<void(size_t off, size_t len)>& emit) {
  constexpr size_t kBlock = 4096;
  for (size_t blk = 0; blk < n; blk += kBlock) {
    const size_t end = blk + kBlock < n ? blk + kBlock : n;
    if (memcmp(a + blk, b + blk, end - blk) == 0) continue;
    for (size_t i = blk; i < end; i += 8) {
      uint64_t x = word(a + i) ^ word(b + i);
      if (!x) continue;
      // Little endian: the lowest set bit is the first differing byte.
      const size_t first = i + static_cast<size_t>(__builtin_ctzll(x)) / 8;
      size_t j = i;
      while (j + 8 < end && (word(a + j + 8) ^ word(b + j + 8))) j += 8;
      const uint64_t y = word(a + j) ^ word(b + j);
      const size_t last = j + static_cast<size_t>(63 - __builtin_clzll(y)) / 8;
      emit(first, last - first + 1);
      i = j;
    }
  }
}

}  // namespace ttst::diff
