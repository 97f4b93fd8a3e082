// word_scan_test — the words of a run of bytes that fall in an address range
// (stfw/xfer/word_scan.h): the scan that skips runs without a zero byte finds
// exactly the offsets, in order, that testing every offset finds — text with
// addresses planted at every alignment, binary data dense in zeros and in
// near-addresses, runs shorter than a word, a start offset, a range above user
// space — and stops at the first visit that says so.
#include "stfw/xfer/word_scan.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

using ttst::stfw::words_in_range;

namespace {

using Found = std::vector<std::pair<uint64_t, uint64_t>>;

Found every_offset(const std::vector<uint8_t>& b, uint64_t from, uint64_t lo, uint64_t span) {
  Found f;
  for (uint64_t k = from; k + 8 <= b.size(); ++k) {
    uint64_t w;
    std::memcpy(&w, b.data() + k, 8);
    if (w - lo < span) f.emplace_back(k, w);
  }
  return f;
}

Found scanned(const std::vector<uint8_t>& b, uint64_t from, uint64_t lo, uint64_t span) {
  Found f;
  CHECK_FALSE(words_in_range(b.data(), from, b.size(), lo, span, [&](uint64_t k, uint64_t w) {
    f.emplace_back(k, w);
    return false;
  }));
  return f;
}

void plant(std::vector<uint8_t>& b, uint64_t at, uint64_t w) { std::memcpy(b.data() + at, &w, 8); }

}  // namespace

TEST_CASE("text with addresses planted at every alignment: the same words as every offset") {
  const uint64_t lo = 0x55636fc00000ull, span = 0x4000000ull;
  std::mt19937_64 rnd(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<uint8_t> b(1 + rnd() % 600);
    for (auto& c : b) c = uint8_t(' ' + rnd() % 95);  // printable: no zero byte
    for (int n = int(rnd() % 4); n-- > 0 && b.size() >= 8;) plant(b, rnd() % (b.size() - 7), lo + rnd() % span);
    if (b.size() >= 8 && rnd() % 3 == 0) plant(b, b.size() - 8, lo);  // the last word
    const uint64_t from = b.size() ? rnd() % (b.size() + 1) : 0;
    const Found want = every_offset(b, from, lo, span);
    CHECK(scanned(b, from, lo, span) == want);
  }
}

TEST_CASE("binary data dense in zeros and near-addresses: the same words as every offset") {
  const uint64_t lo = 0x7f0000001000ull, span = 0x100000ull;
  std::mt19937_64 rnd(11);
  for (int round = 0; round < 300; ++round) {
    std::vector<uint8_t> b(rnd() % 300);
    for (auto& c : b) c = rnd() % 4 == 0 ? 0 : uint8_t(rnd());
    for (uint64_t k = 0; k + 8 <= b.size(); k += 1 + rnd() % 13) {
      const uint64_t near[] = {lo, lo + span - 1, lo + span, lo - 1, lo + rnd() % span, 0};
      plant(b, k, near[rnd() % 6]);
    }
    const uint64_t from = rnd() % (b.size() + 1);
    const Found want = every_offset(b, from, lo, span);
    CHECK(scanned(b, from, lo, span) == want);
  }
}

TEST_CASE("a range above user space is scanned at every offset") {
  const uint64_t lo = 0xffff800000000000ull, span = 0x1000ull;
  std::vector<uint8_t> b(64, 0x41);
  plant(b, 3, lo + 8);  // no zero byte in this word
  const Found want = every_offset(b, 0, lo, span);
  REQUIRE(want.size() == 1);
  CHECK(scanned(b, 0, lo, span) == want);
}

TEST_CASE("the scan stops at the first visit that returns true; short runs hold no word") {
  const uint64_t lo = 0x1000ull, span = 0x1000ull;
  std::vector<uint8_t> b(100, 'x');
  plant(b, 10, 0x1800), plant(b, 50, 0x1900);
  uint64_t seen = 0, at = 0;
  CHECK(words_in_range(b.data(), 0, b.size(), lo, span, [&](uint64_t k, uint64_t) { return ++seen, at = k, true; }));
  CHECK(seen == 1);
  CHECK(at == 10);
  CHECK_FALSE(words_in_range(b.data(), 0, 7, lo, span, [](uint64_t, uint64_t) { return true; }));
  CHECK_FALSE(words_in_range(b.data(), 11, b.size(), lo, 0, [](uint64_t, uint64_t) { return true; }));
}
