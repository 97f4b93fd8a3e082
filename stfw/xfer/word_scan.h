// word_scan.h — the 8-byte words, at any byte offset, of a run of bytes that fall
// in an address range: the data-word checks (engine_data_words.cc) look for pointers
// hidden in data this way, over every byte of a server's values (memcached: 40 MB
// for 50,000 keys). UNTRUSTED, freestanding, header only.
//
// Why not a plain loop over every offset: such a word is a user-space address
// (below 2^48), so its two top bytes are zero, and a run of 8 bytes holding no
// zero byte (text: most client data) holds no candidate; the scan skips those runs
// whole and examines only offsets where two zero bytes meet. Same words, same order.
#ifndef TTST_STFW_XFER_WORD_SCAN_H
#define TTST_STFW_XFER_WORD_SCAN_H

#include <stdint.h>

namespace ttst::stfw {

namespace word_scan_detail {
inline bool check_word(const uint8_t* src, uint64_t k, uint64_t lo, uint64_t span, uint64_t* w) {
  __builtin_memcpy(w, src + k, 8);
  return *w - lo < span;
}
}  // namespace word_scan_detail

// visit(k, w) for each byte offset k in [from, n - 8] whose 8-byte word w (native
// order) lies in [lo, lo + span), k increasing, until a visit returns true (then
// true); false when none did.
template <class Visit>
bool words_in_range(const uint8_t* src, uint64_t from, uint64_t n, uint64_t lo, uint64_t span, Visit&& visit) {
  using word_scan_detail::check_word;
  uint64_t w;
  if (n < from + 8 || span == 0) return false;
  if ((lo + span - 1) >> 48 || lo + span < lo) {  // not a user-space range: every offset
    for (uint64_t k = from; k + 8 <= n; ++k)
      if (check_word(src, k, lo, span, &w) && visit(k, w)) return true;
    return false;
  }
  // j: a candidate word's byte 6 (bytes j and j + 1 zero; the word starts at j - 6).
  for (uint64_t j = from + 6; j + 2 <= n;) {
    if (j + 8 <= n) {
      uint64_t v;
      __builtin_memcpy(&v, src + j, 8);
      if (((v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull) == 0) {  // no zero byte in [j, j + 8)
        j += 7;  // the pairs starting at j .. j + 6 hold a nonzero byte
        continue;
      }
    }
    for (const uint64_t end = j + 7; j < end && j + 2 <= n; ++j)
      if (src[j] == 0 && src[j + 1] == 0 && check_word(src, j - 6, lo, span, &w) && visit(j - 6, w)) return true;
  }
  return false;
}

}  // namespace ttst::stfw

#endif
