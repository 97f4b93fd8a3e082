// The ABI every reader of a ttst program shares must not drift silently: the
// agent and diff read these layouts from raw memory copies.
#include <doctest/doctest.h>

#include <cstddef>

#include "stfw/abi/ttst_abi.h"

TEST_CASE("heap descriptor keeps user data 16-byte aligned") {
  CHECK(sizeof(ttst_heap_desc) == 64);
  CHECK(sizeof(ttst_heap_desc) % 16 == 0);
}

TEST_CASE("heap descriptor field offsets are the documented ones") {
  CHECK(offsetof(ttst_heap_desc, prev) == 0);
  CHECK(offsetof(ttst_heap_desc, next) == 8);
  CHECK(offsetof(ttst_heap_desc, size) == 16);
  CHECK(offsetof(ttst_heap_desc, site) == 24);
  CHECK(offsetof(ttst_heap_desc, dyn_id) == 32);
  CHECK(offsetof(ttst_heap_desc, origin_id) == 40);
  CHECK(offsetof(ttst_heap_desc, flags) == 48);
  CHECK(offsetof(ttst_heap_desc, offset) == 52);
  CHECK(offsetof(ttst_heap_desc, magic) == 56);  // right before the program's bytes
}

TEST_CASE("heap stripes are two cache lines, sentinel first") {
  CHECK(sizeof(ttst_heap_stripe) == 128);
  CHECK(offsetof(ttst_heap_stripe, head) == 0);
  CHECK(offsetof(ttst_heap_stripe, lock) == 64);
  CHECK(offsetof(ttst_heap_stripe, live) == 72);
  CHECK(TTST_HEAP_STRIPE_OF(7u << TTST_HEAP_STRIPE_SHIFT | TTST_HEAP_F_FROM_LIB) == 7);
  CHECK(TTST_HEAP_STRIPES <= 256);  // fits the flags' stripe byte
}

TEST_CASE("runtime control block layout") {
  CHECK(offsetof(ttst_runtime, magic) == 0);
  CHECK(offsetof(ttst_runtime, abi_version) == 8);
  CHECK(offsetof(ttst_runtime, desc_size) == 12);
  CHECK(offsetof(ttst_runtime, update_requested) == 16);
  CHECK(offsetof(ttst_runtime, updating) == 20);
  CHECK(offsetof(ttst_runtime, next_dyn_id) == 24);
  CHECK(offsetof(ttst_runtime, exe_text_start) == 32);
  CHECK(offsetof(ttst_runtime, exe_text_end) == 40);
  CHECK(offsetof(ttst_runtime, stripes) == 64);
  CHECK(sizeof(ttst_runtime) == 64 + TTST_HEAP_STRIPES * 128);
  CHECK(TTST_HEAP_STRIPES > 0);
}

TEST_CASE("stop protocol constants") {
  CHECK(TTST_MARKER_SYSCALL == 110);  // getppid on x86-64
  CHECK(TTST_MARKER_PAST != TTST_MARKER_FUTURE);
  CHECK(TTST_EXIT_NO_SUPERVISOR > 0);
}
