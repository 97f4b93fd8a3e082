// The runtime's per-thread cache of freed small blocks keeps the heap lists exact:
// a cached block is never enumerated, a reused one is relinked with a fresh
// dyn_id, the cache is bounded and given back at thread exit, a forked child
// reuses it consistently. Each check runs inside tests/programs/runtime/cache_probe
// (which walks its own lists with ttst_heap_reader.h) and says why it failed on
// stderr.
#include <doctest/doctest.h>

#include "stfw/runtime/tests/child.h"

namespace {
int probe(const char* check) { return ttst::test::probe("tests/programs/runtime/cache_probe", check); }
}  // namespace

TEST_CASE("a block freed into the cache is off the lists") { CHECK(probe("unlisted") == 0); }
TEST_CASE("malloc and calloc of its class reuse a cached block with a fresh dyn_id") {
  CHECK(probe("reuse") == 0);
}
TEST_CASE("every size up to 1100 bytes, freed and reused in mixed orders, stays in bounds") {
  CHECK(probe("classes") == 0);
}
TEST_CASE("a thread caches at most 64 KiB; a free past that gives it all back to glibc") { CHECK(probe("bound") == 0); }
TEST_CASE("a thread's cache is given back to glibc when the thread exits") { CHECK(probe("exit") == 0); }
TEST_CASE("a forked child reuses the forking thread's cache with exact lists") { CHECK(probe("fork") == 0); }
