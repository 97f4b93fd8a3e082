// library_state_test — the library adapters in the engine (engine_library.cc), on the
// host with evserver's images (stfw/tests/programs/evserver: `struct event tick_ev`,
// `struct event_base *base`): libevent's internals of a struct event kept by the
// destination, the program's members transferred (the callback translated), the
// base pointer keeping F's value, the hooks called (F's inserted event withdrawn
// before the write, the written event recorded with P's bytes, the base pair);
// backward, the flags written back (the diff's check) and the internals kept;
// without the adapters the same state refused as before; glibc stdio's FILE *
// (state_v1/v2's out_file) keeping F's stream, or refused when F has none.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "stfw/abi/ttst_abi.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/host_process.h"
#include "stfw/xfer/library_state.h"

using ttst::stfw::testing::HostProcess;
using ttst::stfw::testing::HostTransfer;
using ttst::stfw::testing::run_transfer;

namespace {

// struct event (libevent 2.1, x86-64): the offsets the test writes.
constexpr uint64_t kActiveNext = 0, kFlags = 16, kPri = 18, kCallback = 24, kArg = 32, kTimeoutPos = 40, kFd = 56,
                   kBase = 64, kIoNext = 72, kEvents = 104, kRes = 106, kDeadline = 112;

struct Calls {
  std::vector<std::pair<uint64_t, uint32_t>> released;  // (lo, dst_type != 0)
  std::vector<std::string> embedded;                     // names
  std::vector<uint64_t> embedded_dst;
  std::vector<uint16_t> embedded_src_flags;
  std::vector<std::pair<uint64_t, uint64_t>> handles;
};
Calls calls;

HostTransfer with_adapters(bool backward = false) {
  HostTransfer how;
  how.backward = backward;
  how.library_adapters = true;
  how.library_env.library_release = [](void*, uint32_t, uint64_t lo, uint64_t, uint32_t type) {
    calls.released.push_back({lo, type});
  };
  how.library_env.library_embedded = [](void*, uint32_t, uint64_t dst, const uint8_t* src, uint32_t, uint32_t,
                                        const char* name) {
    uint16_t flags;
    std::memcpy(&flags, src + kFlags, 2);
    calls.embedded.push_back(name), calls.embedded_dst.push_back(dst), calls.embedded_src_flags.push_back(flags);
  };
  how.library_env.library_handle = [](void*, uint32_t adapter, uint64_t src, uint64_t dst) {
    if (adapter == ttst::stfw::kLibeventAdapterIndex) calls.handles.push_back({src, dst});
  };
  return how;
}

// P's libevent: a base (a heap object the library allocated) and tick_ev inserted
// on its timeout heap, with links into the base.
uint64_t lay_out_past(HostProcess& p) {
  uint8_t* lib = p.add_heap_object(0xc000, 256, 7);
  reinterpret_cast<ttst_heap_desc*>(lib)[-1].flags |= TTST_HEAP_F_FROM_LIB;
  const uint64_t base = reinterpret_cast<uint64_t>(lib);
  p.put<uint64_t>("base", 0, base);
  p.put<uint64_t>("tick_ev", kActiveNext + 8, base + 16);  // tqe_prev into the base
  p.put<uint16_t>("tick_ev", kFlags, 0x81);                // EVLIST_INIT | EVLIST_TIMEOUT
  p.put<uint8_t>("tick_ev", kPri, 1);
  p.put<uint64_t>("tick_ev", kCallback, p.fn("evserver.c::tick"));
  p.put<int>("tick_ev", kTimeoutPos, 0);  // min_heap_idx
  p.put<int>("tick_ev", kFd, -1);
  p.put<uint64_t>("tick_ev", kBase, base);
  p.put<uint64_t>("tick_ev", kIoNext + 8, base + 40);
  p.put<short>("tick_ev", kEvents, 0);
  p.put<short>("tick_ev", kRes, 1);
  p.put<int64_t>("tick_ev", kDeadline, 12345);
  return base;
}

}  // namespace

TEST_CASE("forward: struct event's internals stay F's, the program's members and callback are transferred") {
  HostProcess p("stfw/tests/programs/evserver/evserver_v1"), f("stfw/tests/programs/evserver/evserver_v2");
  const uint64_t past_base = lay_out_past(p);
  const uint64_t own_base = 0x7000123400;  // v2's start-up base: the library's, kept
  f.put<uint64_t>("base", 0, own_base);
  f.put<uint16_t>("tick_ev", kFlags, 0x81);  // inserted by F's start-up
  f.put<uint64_t>("tick_ev", kBase, own_base);
  f.put<uint64_t>("tick_ev", kActiveNext + 8, own_base + 16);
  f.put<int64_t>("tick_ev", kDeadline, 999);
  calls = {};
  auto run = run_transfer(p, f, with_adapters());
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  CHECK(f.get<uint64_t>("base") == own_base);
  CHECK(f.get<uint64_t>("tick_ev", kCallback) == f.fn("evserver.c::tick"));
  CHECK(f.get<int>("tick_ev", kFd) == -1);
  CHECK(f.get<uint8_t>("tick_ev", kPri) == 1);
  CHECK(f.get<uint16_t>("tick_ev", kFlags) == 0x81);  // F's own: the replay sets them
  CHECK(f.get<uint64_t>("tick_ev", kBase) == own_base);
  CHECK(f.get<uint64_t>("tick_ev", kActiveNext + 8) == own_base + 16);
  CHECK(f.get<int64_t>("tick_ev", kDeadline) == 999);
  // Every struct event of a global written (tick_ev, beat_ev), offered for withdrawal
  // before it was written (the adapter then looks at F's flags).
  REQUIRE(calls.released.size() == 2);
  CHECK(calls.released[0].first + calls.released[1].first == f.addr("tick_ev") + f.addr("beat_ev"));
  CHECK(calls.released[0].second != 0);
  REQUIRE(calls.embedded.size() == 2);  // both recorded, with P's bytes
  const size_t tick = calls.embedded[0] == "tick_ev" ? 0 : 1;
  CHECK(calls.embedded[tick] == "tick_ev");
  CHECK(calls.embedded[1 - tick] == "beat_ev");
  CHECK(calls.embedded_dst[tick] == f.addr("tick_ev"));
  CHECK(calls.embedded_src_flags[tick] == 0x81);
  REQUIRE(calls.handles.size() == 1);
  CHECK(calls.handles[0] == std::make_pair(past_base, own_base));
}

TEST_CASE("backward: the flags come back from F (a missed registration shows), the internals stay R's") {
  HostProcess f("stfw/tests/programs/evserver/evserver_v2"), r("stfw/tests/programs/evserver/evserver_v1");
  const uint64_t past_base = lay_out_past(r);
  uint8_t* own = f.add_heap_object(0xc000, 256, 3);  // F's base: its libevent's object
  reinterpret_cast<ttst_heap_desc*>(own)[-1].flags |= TTST_HEAP_F_FROM_LIB;
  f.put<uint64_t>("base", 0, reinterpret_cast<uint64_t>(own));
  f.put<uint16_t>("tick_ev", kFlags, 0x80);  // assigned but never added in F: lost
  f.put<uint64_t>("tick_ev", kCallback, f.fn("evserver.c::tick"));
  f.put<int>("tick_ev", kFd, -1);
  f.put<uint8_t>("tick_ev", kPri, 1);
  calls = {};
  auto run = run_transfer(f, r, with_adapters(true));
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  CHECK(r.get<uint16_t>("tick_ev", kFlags) == 0x80);  // differs from P's 0x81: the diff catches it
  CHECK(r.get<uint64_t>("tick_ev", kCallback) == r.fn("evserver.c::tick"));
  CHECK(r.get<uint64_t>("tick_ev", kBase) == past_base);
  CHECK(r.get<uint64_t>("tick_ev", kActiveNext + 8) == past_base + 16);
  CHECK(r.get<int64_t>("tick_ev", kDeadline) == 12345);
  CHECK(r.get<uint64_t>("base") == past_base);
  CHECK(calls.embedded.empty());  // no replay backward
}

TEST_CASE("without the adapters, the links into libevent's objects are refused as before") {
  HostProcess p("stfw/tests/programs/evserver/evserver_v1"), f("stfw/tests/programs/evserver/evserver_v2");
  lay_out_past(p);
  auto run = run_transfer(p, f);
  CHECK(run.r.status == TTST_STFW_STATUS_INVARIANT);
  CHECK(run.msg.find("allocated inside a library: not transferred") != std::string::npos);
}

TEST_CASE("a FILE * to a stream fopen() allocated keeps the stream v2's start-up opened") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  uint8_t* past_stream = p.add_heap_object(0xc000, 472, 9);
  reinterpret_cast<ttst_heap_desc*>(past_stream)[-1].flags |= TTST_HEAP_F_FROM_LIB;
  p.put<uint64_t>("out_file", 0, reinterpret_cast<uint64_t>(past_stream));
  const uint64_t own_stream = 0x7000555500;
  f.put<uint64_t>("out_file", 0, own_stream);
  calls = {};
  auto run = run_transfer(p, f, with_adapters());
  INFO(run.msg);
  REQUIRE(run.r.status == TTST_STFW_STATUS_OK);
  CHECK(f.get<uint64_t>("out_file") == own_stream);
  CHECK(calls.handles.empty());  // stdio has no run-time part: nothing reaches libevent's
}

TEST_CASE("a FILE * whose stream v2's start-up did not open is refused, not lost silently") {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  uint8_t* past_stream = p.add_heap_object(0xc000, 472, 9);
  reinterpret_cast<ttst_heap_desc*>(past_stream)[-1].flags |= TTST_HEAP_F_FROM_LIB;
  p.put<uint64_t>("out_file", 0, reinterpret_cast<uint64_t>(past_stream));
  auto run = run_transfer(p, f, with_adapters());
  CHECK(run.r.status == TTST_STFW_STATUS_INVARIANT);
  CHECK(run.msg.find("invariant: out_file points to heap object #9") == 0);
  CHECK(run.msg.find("start-up left this glibc stdio pointer NULL") != std::string::npos);
}
