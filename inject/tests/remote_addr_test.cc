// remote_addr_test.cc — the typed addresses of inject/remote_addr.h: run-time and
// link-time addresses are distinct types that never convert into each other or
// into integers implicitly (checked at compile time), and the load bias is the one
// explicit way between them.
#include "inject/remote_addr.h"

#include <cstdint>
#include <type_traits>

#include <doctest/doctest.h>

using ttst::inject::LinkAddr;
using ttst::inject::LoadBias;
using ttst::inject::RemoteAddr;

// No implicit conversion between the two kinds, nor to or from integers or the bias.
static_assert(!std::is_convertible_v<RemoteAddr, LinkAddr>);
static_assert(!std::is_convertible_v<LinkAddr, RemoteAddr>);
static_assert(!std::is_convertible_v<RemoteAddr, uint64_t>);
static_assert(!std::is_convertible_v<LinkAddr, uint64_t>);
static_assert(!std::is_convertible_v<uint64_t, RemoteAddr>);
static_assert(!std::is_convertible_v<uint64_t, LinkAddr>);
static_assert(!std::is_convertible_v<int, RemoteAddr>);
static_assert(!std::is_convertible_v<LoadBias, uint64_t>);
static_assert(!std::is_convertible_v<uint64_t, LoadBias>);
static_assert(!std::is_convertible_v<RemoteAddr, bool>);
// Not even explicitly: a link-time address is made run-time only with a bias.
static_assert(!std::is_constructible_v<RemoteAddr, LinkAddr>);
static_assert(!std::is_constructible_v<LinkAddr, RemoteAddr>);
static_assert(!std::is_constructible_v<uint64_t, RemoteAddr>);
// Mixed arithmetic and comparison do not compile.
template <class A, class B>
concept Addable = requires(A a, B b) { a + b; };
template <class A, class B>
concept Subtractable = requires(A a, B b) { a - b; };
template <class A, class B>
concept Comparable = requires(A a, B b) { a == b; };
static_assert(!Addable<RemoteAddr, LinkAddr>);
static_assert(!Addable<RemoteAddr, RemoteAddr>);
static_assert(!Subtractable<RemoteAddr, LinkAddr>);
static_assert(!Addable<RemoteAddr, LoadBias>);     // a run-time address is already biased
static_assert(!Subtractable<LinkAddr, LoadBias>);  // a link-time address has no bias to remove
static_assert(!Comparable<RemoteAddr, LinkAddr>);
static_assert(!Comparable<RemoteAddr, uint64_t>);
// What is allowed: offsets, distances, the bias.
static_assert(std::is_same_v<decltype(RemoteAddr() + uint64_t{8}), RemoteAddr>);
static_assert(std::is_same_v<decltype(LinkAddr() - uint64_t{1}), LinkAddr>);
static_assert(std::is_same_v<decltype(RemoteAddr() - RemoteAddr()), uint64_t>);
static_assert(std::is_same_v<decltype(LinkAddr() + LoadBias()), RemoteAddr>);
static_assert(std::is_same_v<decltype(RemoteAddr() - LoadBias()), LinkAddr>);

TEST_CASE("the load bias converts both ways, and nothing else does") {
  LinkAddr runtime_block(0x4010);
  LoadBias bias = LoadBias::between(LinkAddr(0x0), RemoteAddr(0x5555'5555'4000));
  CHECK(bias.value() == 0x5555'5555'4000);
  RemoteAddr run = runtime_block + bias;
  CHECK(run.value() == 0x5555'5555'8010);
  CHECK((run - bias) == runtime_block);
  CHECK((run + 8).value() == 0x5555'5555'8018);
  CHECK((run + 8) - run == 8);
  CHECK(RemoteAddr(1) < RemoteAddr(2));
  CHECK(RemoteAddr().is_null());
  CHECK((LinkAddr(0x400000) + LoadBias()).value() == 0x400000);  // non-PIE: bias 0
}
