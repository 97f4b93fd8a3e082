// The runtime's hooks for the state transfer's allocations in a future version:
// announced a large transfer, the heap grows ahead on huge pages while every block
// stays an ordinary tracked, zeroed, freeable block and errno is kept; a small one
// changes nothing (no advice, glibc's mmap threshold where it was); grown ahead of
// the allocations, the heap names its new range and frees the steps left unused. Each check runs
// inside tests/programs/runtime/transfer_probe and says why it failed on stderr.
#include <doctest/doctest.h>

#include "stfw/runtime/tests/child.h"

namespace {
int probe(const char* check) { return ttst::test::probe("tests/programs/runtime/transfer_probe", check); }
}  // namespace

TEST_CASE("a large reserve: blocks on huge-page-advised heap, zeroed, listed, freeable; errno kept") {
  CHECK(probe("large") == 0);
}
TEST_CASE("the heap grown ahead: a named range on the heap the blocks then fill; what was not used is freed") {
  CHECK(probe("ahead") == 0);
}
TEST_CASE("a small reserve changes nothing: no advice, glibc's mmap threshold unmoved") { CHECK(probe("small") == 0); }
