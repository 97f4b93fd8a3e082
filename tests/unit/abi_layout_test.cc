// The ABI every reader of a ttst program shares must not drift silently: the
// agent and diff read these layouts from raw memory copies.
#include <doctest/doctest.h>

#include <cstddef>

#include "stfw/runtime/ttst_abi.h"

TEST_CASE("heap descriptor keeps user data 16-byte aligned") {
  CHECK(sizeof(ttst_heap_desc) == 64);
  CHECK(sizeof(ttst_heap_desc) % 16 == 0);
}

TEST_CASE("heap descriptor field offsets are the documented ones") {
  CHECK(offsetof(ttst_heap_desc, magic) == 0);
  CHECK(offsetof(ttst_heap_desc, size) == 8);
  CHECK(offsetof(ttst_heap_desc, site) == 16);
  CHECK(offsetof(ttst_heap_desc, dyn_id) == 24);
  CHECK(offsetof(ttst_heap_desc, origin_id) == 32);
  CHECK(offsetof(ttst_heap_desc, prev) == 40);
  CHECK(offsetof(ttst_heap_desc, next) == 48);
  CHECK(offsetof(ttst_heap_desc, flags) == 56);
  CHECK(offsetof(ttst_heap_desc, offset) == 60);
}

TEST_CASE("runtime control block starts with magic and version") {
  CHECK(offsetof(ttst_runtime, magic) == 0);
  CHECK(offsetof(ttst_runtime, abi_version) == 8);
  CHECK(offsetof(ttst_runtime, update_requested) == 16);
  CHECK(offsetof(ttst_runtime, heads) % 8 == 0);
  CHECK(TTST_HEAP_STRIPES > 0);
}
