// listing2_test.cc — the paper's Listing 2 (tests/programs/listing2, built with
// ttst-cc): v1's `var` (str[3]→str[2] truncated, id short→int widened and moved,
// ptr dropped, inner_ptr short*→int* into ids[]) is transferred into v2 in F and
// back into R; R must equal P byte for byte and F must hold v1's values in v2's
// layout. v2 has no update point: F is stopped at its first sleep.
#include <doctest/doctest.h>

#include <cstring>

#include "dwarfmeta/load.h"
#include "inject/memory.h"
#include "inject/tests/test_util.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/xfer_fixture.h"

using namespace ttst;
using ttst::stfw::testing::RoundTrip;

namespace {
uint64_t addr_of(const std::string& exe, pid_t pid, const char* id) {
  dwarfmeta::Program p = dwarfmeta::load(exe);
  return p.global(id)->addr + ttst::stfw::testing::exe_bias(pid);
}
template <class T>
T read_at(pid_t pid, uint64_t addr) {
  std::vector<uint8_t> b = inject::read_memory(pid, addr, sizeof(T));
  T v;
  std::memcpy(&v, b.data(), sizeof v);
  return v;
}
}  // namespace

TEST_CASE("Listing 2: P -> F -> R, R == P, F holds var in v2's layout") {
  RoundTrip rt;
  rt.v1 = inject::testing::runfile("stfw/tests/listing2_v1");
  rt.v2 = inject::testing::runfile("stfw/tests/listing2_v2");
  rt.future_stops_at_sleep = true;
  rt.says_ready = false;  // it prints nothing before its loop; start() waits for its sleep
  rt.args = {"xy"};
  rt.start();
  inject::AgentOutcome fw = rt.forward();
  std::string msg(reinterpret_cast<const char*>(fw.output.data()));
  INFO(fw.describe(), " / ", msg);
  REQUIRE(fw.status == TTST_STFW_STATUS_OK);
  inject::AgentOutcome bw = rt.backward();
  INFO(bw.describe());
  REQUIRE(bw.status == TTST_STFW_STATUS_OK);
  std::string diff = rt.compare();
  CHECK_MESSAGE(diff.empty(), diff);

  uint64_t pv = addr_of(rt.v1, rt.p, "var"), fv = addr_of(rt.v2, rt.f->pid(), "var");
  uint64_t fids = addr_of(rt.v2, rt.f->pid(), "ids");
  // v1: int count @0; char str[3] @4; short id @8; union u @12; void *ptr @16; int addr @24; short *inner_ptr @32
  // v2: int count @0; int id @4; char str[2] @8; union u @12; int addr @16; int *inner_ptr @24
  CHECK(read_at<int>(rt.f->pid(), fv + 0) == read_at<int>(rt.p, pv + 0));
  CHECK(read_at<int>(rt.f->pid(), fv + 4) == 7);
  CHECK(read_at<char>(rt.f->pid(), fv + 8) == 'x');
  CHECK(read_at<char>(rt.f->pid(), fv + 9) == 'y');
  CHECK(read_at<int>(rt.f->pid(), fv + 12) == 42);
  CHECK(read_at<int>(rt.f->pid(), fv + 16) == 0x1234);
  CHECK(read_at<uint64_t>(rt.f->pid(), fv + 24) == fids + 4);  // &ids[1] with int elements
  CHECK(read_at<int>(rt.f->pid(), fids + 4) == read_at<short>(rt.p, addr_of(rt.v1, rt.p, "ids") + 2));
}
