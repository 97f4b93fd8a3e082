// engine_test.cc — the engine's pure parts on the host, without processes: the
// source "process" is a buffer laid out at v1's link addresses plus a bias (so its
// addresses are local addresses), the destination a buffer for v2. Checks type
// transformation (widening, enums by name, bitfields, nested structs, truncated
// arrays), pointer translation (interior pointers, function pointers) and the
// invariant messages; a pointer-typed word at or above 2^56 carried as is.
#include "stfw/xfer/engine.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "stfw/abi/ttst_abi.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/host_process.h"

using ttst::stfw::testing::free_scratch;
using ttst::stfw::testing::HostProcess;
using ttst::stfw::testing::HostTransfer;
using ttst::stfw::testing::link_dnode_ring;
using ttst::stfw::testing::run_transfer;
using ttst::stfw::testing::scratch;
using ttst::stfw::testing::TransferRun;
using Side = HostProcess;  // v1 or v2 in a host buffer
using Run = TransferRun;

namespace {

// Scratch memory that runs out after `left` allocations (the engine's own object
// is the first).
int scratch_left = 0;
void* scratch_limited(void* c, uint64_t n) { return scratch_left-- > 0 ? scratch(c, n) : nullptr; }

Run forward(Side& p, Side& f, HostTransfer how = {}) { return run_transfer(p, f, how); }

}  // namespace

TEST_CASE("globals in v2's types: widened, enum by name, bitfields, nested, pointers") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  // v1 struct s: count@0 str[3]@4 id(short)@8 u@12 ptr@16 addr@24 inner_ptr@32
  p.put<int>("var", 0, 41);
  std::memcpy(p.at("var", 4), "ab", 3);
  p.put<short>("var", 8, -7);
  p.put<int>("var", 12, 42);
  p.put<int>("var", 24, 0x1234);
  p.put<uint64_t>("var", 32, p.addr("ids", 2));  // &ids[1] (short)
  p.put<short>("ids", 2, 11);
  p.put<short>("small", 0, -100);
  p.put<int>("col", 0, 2);                      // BLUE in v1, 0 in v2
  p.put<uint8_t>("fl", 0, 5 | (9 << 3));        // a=5 b=9
  p.put<uint8_t>("fl", 1, 0xd);                 // c=-3 (4 bits)
  p.put<uint64_t>("ops", 0, p.fn("op_add"));
  p.put<uint64_t>("ops", 8, p.fn("op_sub"));
  p.put<uint64_t>("table_ptr", 0, p.addr("table", 2 * 8 + 4));  // &table[2].b
  p.put<short>("nest", 0, -2);                  // nest.in.s
  f.put<int>("v2_only", 0, 99);                 // v2's own start-up value

  Run run = forward(p, f);
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  // v2 struct s: count@0 id(int)@4 str[2]@8 u@12 addr@16 inner_ptr@24
  CHECK(f.get<int>("var", 0) == 41);
  CHECK(f.get<int>("var", 4) == -7);  // sign extended
  CHECK(std::memcmp(f.at("var", 8), "ab", 2) == 0);
  CHECK(f.get<int>("var", 12) == 42);
  CHECK(f.get<int>("var", 16) == 0x1234);
  CHECK(f.get<uint64_t>("var", 24) == f.addr("ids", 4));  // &ids[1] with int elements
  CHECK(f.get<int>("ids", 4) == 11);
  CHECK(f.get<signed char>("small") == -100);
  CHECK(f.get<int>("col") == 0);
  // v2 struct flags { int c:6; unsigned b:4; unsigned a:3; }
  uint32_t w = f.get<uint32_t>("fl");
  CHECK(int(int32_t(w << 26) >> 26) == -3);
  CHECK(((w >> 6) & 0xf) == 9);
  CHECK(((w >> 10) & 7) == 5);
  CHECK(f.get<uint64_t>("ops", 0) == f.fn("op_add"));
  CHECK(f.get<uint64_t>("ops", 8) == f.fn("op_sub"));
  CHECK(f.get<uint64_t>("table_ptr") == f.addr("table", 2 * 12 + 8));  // same element and member
  CHECK(f.get<int>("v2_only") == 99);                                  // new in v2: kept
  CHECK(run.r.pointers >= 4);
}

TEST_CASE("narrowing that loses the value is an invariant violation naming the object") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  p.put<short>("small", 0, 30000);
  Run run = forward(p, f);
  CHECK(run.r.status == TTST_STFW_STATUS_INVARIANT);
  CHECK(run.msg == "invariant: small = 30000 does not fit in signed char (v2's type)");
}

TEST_CASE("a pointer past what v2's array holds names both ends") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  p.put<uint64_t>("var", 32, p.addr("ids", 6));  // &ids[3]; v2 has ids[2]
  Run run = forward(p, f);
  CHECK(run.r.status == TTST_STFW_STATUS_INVARIANT);
  CHECK(run.msg == "invariant: var.inner_ptr points to ids+6, which does not exist in v2");
  CHECK(run.fix.find("write fwd_struct_s and bwd_struct_s in a transfer plugin") == 0);  // the holder's struct
}

TEST_CASE("a bad runtime block is refused as bad input") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  std::memset(p.mem + p.v.runtime_addr(), 0, 8);
  Run run = forward(p, f);
  CHECK(run.r.status == TTST_STFW_STATUS_BAD_INPUT);
  CHECK(run.msg.find("bad input: no ttst runtime block at 0x") == 0);
}

TEST_CASE("a bitfield value that does not fit v2's narrower field names the member") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  p.put<uint8_t>("fl", 0, 5 | (31 << 3));  // v1 b:5 = 31; v2 b:4
  Run run = forward(p, f);
  CHECK(run.r.status == TTST_STFW_STATUS_INVARIANT);
  CHECK(run.msg == "invariant: fl.b = 31 does not fit in a 4-bit field (v2's type)");
}

TEST_CASE("the agent's arena running out is reported as no memory") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  scratch_left = 3;
  Run run = forward(p, f, {.scratch = &scratch_limited});
  CHECK(run.r.status == TTST_STFW_STATUS_NO_MEMORY);
  CHECK(run.msg == "no memory: the agent's arena is exhausted (give it a larger heap)");
}

TEST_CASE("missing metadata, unreadable heap lists and a global outside the copy are bad input") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  SUBCASE("metadata image missing") {
    static char out[256];
    ttst::stfw::Config c;
    c.out = out, c.out_size = sizeof out;
    ttst::stfw::Env env{&scratch, nullptr, nullptr, nullptr};
    ttst::stfw::Result r = ttst::stfw::transfer(c, env);
    free_scratch();
    CHECK(r.status == TTST_STFW_STATUS_BAD_INPUT);
    CHECK(std::string(out) == "bad input: metadata image missing");
  }
  SUBCASE("a heap list whose count disagrees with its links") {
    reinterpret_cast<ttst_runtime*>(p.mem + p.v.runtime_addr())->stripes[3].live = 2;
    Run run = forward(p, f);
    CHECK(run.r.status == TTST_STFW_STATUS_BAD_INPUT);
    CHECK(run.msg == "bad input: the source's heap lists are unreadable (walk error -4)");
  }
  SUBCASE("a global the copy of the source lacks") {
    uint64_t at = p.v.global("small")->addr;
    Run run = forward(
        p, f, {.regions = {{p.bias(), at, p.mem}, {p.bias() + at + 2, (1 << 16) - at - 2, p.mem + at + 2}}});
    CHECK(run.r.status == TTST_STFW_STATUS_BAD_INPUT);
    CHECK(run.msg == "bad input: small is not in the copy of the source's memory");
  }
}

TEST_CASE("a pointer into the string literals that cannot be read names the pointer") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  REQUIRE(p.v.range_count() > 0);
  p.put<uint64_t>("greeting", 0, p.bias() + p.v.range(0).start);  // no read_source here
  Run run = forward(p, f);
  CHECK(run.r.status == TTST_STFW_STATUS_INVARIANT);
  CHECK(run.msg == "invariant: greeting points to an unreadable string literal");
}

TEST_CASE("kernel-held words (epoll data): pointers translated, numbers kept, a lost target named") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  std::vector<uint64_t> words{7, p.addr("table", 2 * 8 + 4), p.addr("ops")}, out;
  Run run = forward(p, f, {.kernel_words = &words, .kernel_out = &out});
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  CHECK(out[0] == 7);                                // an fd number stays
  CHECK(out[1] == f.addr("table", 2 * 12 + 8));     // &table[2].b in v2's layout
  CHECK(out[2] == f.addr("ops"));
  words = {p.addr("ids", 6)};                        // &ids[3]; v2 has ids[2]
  run = forward(p, f, {.kernel_words = &words, .kernel_out = &out});
  CHECK(run.r.status == TTST_STFW_STATUS_INVARIANT);
  CHECK(run.msg == "invariant: the data of epoll registration #0 points to ids+6, which does not exist in v2");
}

TEST_CASE("the program's allocator refusing a block in F is reported as no memory, naming the object") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  p.add_heap_object(0xe000, 24, 7);  // one live heap object of 24 bytes in P
  auto refuse = [](void*, uint64_t, uint64_t, uint64_t) -> uint64_t { return 0; };
  Run run = forward(p, f, {.alloc = refuse});
  CHECK(run.r.status == TTST_STFW_STATUS_NO_MEMORY);
  CHECK(run.msg.find("no memory: the program's allocator refused 24 bytes for heap object #7 (24 bytes, site ") == 0);
}

TEST_CASE("a pointer-typed word at or above 2^56 (no x86-64 user address: stale text) is carried as is") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  const uint64_t text = 0x31762d3331762d33ull;  // "3-v13-v1": bytes of a reused buffer
  p.put<uint64_t>("var", 32, text);              // var.inner_ptr
  Run run = forward(p, f);
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  CHECK(f.get<uint64_t>("var", 24) == text);  // v2: inner_ptr at +24
  p.put<uint64_t>("var", 32, (1ull << 56) - 4096);  // below 2^56: still refused (outside the state)
  run = forward(p, f);
  CHECK(run.r.status == TTST_STFW_STATUS_AMBIGUOUS);
  CHECK(run.msg.find("points outside the program's state") != std::string::npos);
}

namespace {
HostProcess* plan_future = nullptr;  // where plan_alloc carves F's new objects
uint64_t plan_alloc(void*, uint64_t size, uint64_t, uint64_t origin) {
  static uint64_t desc_at = 0xd000;
  uint8_t* p = plan_future->add_heap_object(desc_at, size, 100 + origin, origin);
  desc_at += 0x100;
  return reinterpret_cast<uint64_t>(p);
}
}  // namespace

// The compiled element plans (engine_plans.cc) cover integer conversions and pointers
// to globals: heap tnodes (v1 `int key` -> v2 `long key`, moved) sign-extended, a
// heap dnode whose links point to the global `ring` translated to v2's `ring`.
TEST_CASE("heap structs: a widened signed member sign-extended, links to a global translated") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  // v1 struct tnode { int key; tnode *left, *right; } (24 bytes)
  uint8_t* a = p.add_heap_object(0xe000, 24, 7);
  uint8_t* b = p.add_heap_object(0xe100, 24, 8);
  int32_t key_a = -5, key_b = 70000;
  std::memcpy(a, &key_a, 4), std::memcpy(b, &key_b, 4);
  const uint64_t b_addr = reinterpret_cast<uint64_t>(b);
  std::memcpy(a + 8, &b_addr, 8);  // a->left = b
  p.put<uint64_t>("root", 0, reinterpret_cast<uint64_t>(a));
  // v1 struct dnode { dnode *prev, *next; int v; } (24 bytes): ring <-> d
  uint8_t* d = p.add_heap_object(0xe200, 24, 9);
  const uint64_t ring = p.addr("ring"), d_addr = reinterpret_cast<uint64_t>(d);
  std::memcpy(d, &ring, 8), std::memcpy(d + 8, &ring, 8);
  int32_t v = -3;
  std::memcpy(d + 16, &v, 4);
  p.put<uint64_t>("ring", 0, d_addr), p.put<uint64_t>("ring", 8, d_addr);
  HostTransfer how;
  how.alloc = &plan_alloc;
  plan_future = &f;
  Run run = forward(p, f, how);
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  // v2 struct tnode { tnode *left, *right; long key; }
  auto* fa = reinterpret_cast<const uint8_t*>(f.get<uint64_t>("root"));
  REQUIRE(fa != nullptr);
  CHECK(*reinterpret_cast<const int64_t*>(fa + 16) == -5);  // sign extended into the wider member
  auto* fb = reinterpret_cast<const uint8_t*>(*reinterpret_cast<const uint64_t*>(fa));
  REQUIRE(fb != nullptr);
  CHECK(*reinterpret_cast<const int64_t*>(fb + 16) == 70000);
  CHECK(*reinterpret_cast<const uint64_t*>(fa + 8) == 0);
  // v2 struct dnode { int v; long weight; dnode *next, *prev; }: its links aim at v2's ring
  auto* fd = reinterpret_cast<const uint8_t*>(f.get<uint64_t>("ring", 16));  // ring.next
  REQUIRE(fd != nullptr);
  CHECK(*reinterpret_cast<const int32_t*>(fd) == -3);
  CHECK(*reinterpret_cast<const uint64_t*>(fd + 16) == f.addr("ring"));
  CHECK(*reinterpret_cast<const uint64_t*>(fd + 24) == f.addr("ring"));
  CHECK(f.get<uint64_t>("ring", 24) == reinterpret_cast<uint64_t>(fd));  // ring.prev
}

// The object table's order (engine_index.cc): a heap walked mostly in descending
// addresses, but with spikes (blocks far above their neighbours) and dips (blocks
// reusing freed memory below), is sorted by merging the out-of-order blocks in;
// the links to the global `ring` are found through that order (not at a block's
// base), and every dnode keeps its value and its place in the chain.
TEST_CASE("a heap walked out of address order: spikes and dips merged into the table's order") {
  Side p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  std::vector<uint64_t> slots;
  for (uint64_t s = 30; s >= 10; --s) {
    slots.push_back(s);
    if (s == 27) slots.push_back(40);                              // a single spike
    if (s == 22) slots.push_back(41), slots.push_back(42);         // a spike of two
    if (s == 18) slots.push_back(3);                               // a dip
    if (s == 14) slots.push_back(1), slots.push_back(2), slots.push_back(5);  // a run of dips
  }
  std::vector<uint8_t*> nodes;
  for (uint64_t i = 0; i < slots.size(); ++i) nodes.push_back(p.add_heap_object(0xe000 + slots[i] * 0x60, 24, i + 1));
  link_dnode_ring(p, nodes, 100);  // ring -> nodes[0] -> ... -> nodes[n-1] -> ring (next); prev: ring
  HostTransfer how;
  how.alloc = &plan_alloc;
  plan_future = &f;
  Run run = forward(p, f, how);
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  // v2 struct dnode { int v; long weight; dnode *next, *prev; }
  uint64_t at = f.get<uint64_t>("ring", 16);
  for (uint64_t i = 0; i < nodes.size(); ++i) {
    REQUIRE(at != f.addr("ring"));
    const auto* fd = reinterpret_cast<const uint8_t*>(at);
    CHECK(*reinterpret_cast<const int32_t*>(fd) == int32_t(100 + i));
    CHECK(*reinterpret_cast<const uint64_t*>(fd + 24) == f.addr("ring"));
    at = *reinterpret_cast<const uint64_t*>(fd + 16);
  }
  CHECK(at == f.addr("ring"));
}
