// frames_test.cc — F's own frames on the host (engine_frames.cc), without processes:
// v2 (state_v2 in a host buffer) holds a start-up heap object in `heap_name`; the
// transfer overwrites that global with P's value, so the object is superseded. A
// fake stack of F (a host array with a frame-pointer chain into `main`) holds
// pointers to it: they must be remapped to the counterpart (base and interior), other
// words untouched, the object freed and listed for the supervisor; with no
// counterpart (P's heap_name is NULL) the transfer is refused naming the frame.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "stfw/stfw_task.h"
#include "stfw/tests/host_process.h"

using ttst::stfw::testing::HostProcess;
using ttst::stfw::testing::HostTransfer;
using ttst::stfw::testing::run_transfer;

namespace {

std::vector<uint64_t> released;
void release(void*, uint64_t addr) { released.push_back(addr); }

HostProcess* future_side = nullptr;  // where alloc_in_future carves F's new objects
uint64_t alloc_in_future(void*, uint64_t size, uint64_t, uint64_t origin) {
  static uint64_t desc_at = 0xd000;
  uint8_t* p = future_side->add_heap_object(desc_at, size, 100 + origin, origin);
  desc_at += 0x100;
  return reinterpret_cast<uint64_t>(p);
}

// F's stack: 64 words; rsp at word 16 (the red zone below it is scanned too); frame
// 0 (the runtime's update point) ends where word 20 holds the saved rbp (-> word 40)
// and word 21 the return address into `main`; main's frame is words 22..41.
struct FakeStack {
  uint64_t w[64] = {};
  explicit FakeStack(HostProcess& f) {
    w[20] = reinterpret_cast<uint64_t>(&w[40]);
    w[21] = f.fn("main") + 4;
  }
  void aim(HostTransfer& how) {
    how.own_stack_lo = reinterpret_cast<uint64_t>(&w[16]);
    how.own_stack_hi = reinterpret_cast<uint64_t>(&w[64]);
    how.own_frame = reinterpret_cast<uint64_t>(&w[20]);
  }
};

}  // namespace

TEST_CASE("F's stack words into a superseded start-up object are remapped to its counterpart") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  uint8_t* p_name = p.add_heap_object(0xe000, 16, 7);
  std::memcpy(p_name, "P's name", 9);
  p.put<uint64_t>("heap_name", 0, reinterpret_cast<uint64_t>(p_name));
  uint64_t startup = reinterpret_cast<uint64_t>(f.add_heap_object(0xe000, 16, 1));  // v2's start-up block
  f.put<uint64_t>("heap_name", 0, startup);
  FakeStack stack(f);
  stack.w[10] = startup;      // in the red zone
  stack.w[30] = startup;      // a local of main
  stack.w[31] = startup + 8;  // an interior pointer
  stack.w[32] = startup + 16; // one past its end: not inside it
  stack.w[33] = 12345;
  HostTransfer how;
  how.alloc = &alloc_in_future, how.release = &release;
  stack.aim(how);
  future_side = &f;
  released.clear();
  auto run = run_transfer(p, f, how);
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  uint64_t now = f.get<uint64_t>("heap_name");
  CHECK(now != startup);
  CHECK(std::string(reinterpret_cast<const char*>(now)) == "P's name");
  CHECK(stack.w[10] == now);
  CHECK(stack.w[30] == now);
  CHECK(stack.w[31] == now + 8);
  CHECK(stack.w[32] == startup + 16);
  CHECK(stack.w[33] == 12345);
  CHECK(run.r.frame_words == 3);
  CHECK(released == std::vector<uint64_t>{startup});
  REQUIRE(run.superseded.size() == 1);
  CHECK(run.superseded[0].addr == startup);
  CHECK(run.superseded[0].size == 16);
  CHECK(run.superseded[0].counterpart == now);
  CHECK(run.superseded[0].freed);
}

TEST_CASE("a stack word into a superseded start-up object without counterpart is refused, the frame named") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  uint64_t startup = reinterpret_cast<uint64_t>(f.add_heap_object(0xe000, 16, 1));
  f.put<uint64_t>("heap_name", 0, startup);  // P's heap_name is NULL: no counterpart
  FakeStack stack(f);
  stack.w[30] = startup + 4;
  HostTransfer how;
  how.alloc = &alloc_in_future, how.release = &release;
  stack.aim(how);
  future_side = &f;
  released.clear();
  auto run = run_transfer(p, f, how);
  CHECK(run.r.status == TTST_STFW_STATUS_AMBIGUOUS);
  INFO(run.msg);
  CHECK(run.msg.find("ambiguous: the future version's stack slot ") == 0);
  CHECK(run.msg.find(" (CFA-96 in the frame of main; no local DWARF places there") != std::string::npos);
  CHECK(run.msg.find("no unique counterpart (the global that pointed to it is now NULL)") != std::string::npos);
  CHECK(stack.w[30] == startup + 4);  // untouched: the update is refused
  CHECK(released.empty());            // nothing freed after a refusal
}

TEST_CASE("without a stack (no rsp given) the transfer still frees and lists superseded objects") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  uint64_t startup = reinterpret_cast<uint64_t>(f.add_heap_object(0xe000, 16, 1));
  f.put<uint64_t>("heap_name", 0, startup);
  HostTransfer how;
  how.alloc = &alloc_in_future, how.release = &release;
  released.clear();
  auto run = run_transfer(p, f, how);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  CHECK(run.r.frame_words == 0);
  CHECK(released == std::vector<uint64_t>{startup});
  REQUIRE(run.superseded.size() == 1);
  CHECK(run.superseded[0].counterpart == 0);  // NULL now: none
}
