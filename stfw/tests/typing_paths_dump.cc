// typing_paths_dump.cc — TEST ONLY: runs the typing cases of typing_paths_test on the
// host (state_v1 -> state_v2 in buffers, host_process.h) and writes one canonical
// line per case to the file named by TYPING_DUMP_OUT: the status, the message and
// its advised fix, the counters, the allocations F received (size, origin) and a
// digest of F's whole memory after the transfer. Not `transforms`: walk_struct
// counts every struct it walks in any mode, so elements typed by the walk add to it
// while those typed by a plan do not (as with apply_plan before the fast path). Built twice: against the engine as
// shipped (typing_paths_dump_fast: heap elements typed by their compiled plans,
// engine_type_plan.cc) and against the walk-only variant (typing_paths_dump_walk,
// TTST_STFW_TYPING_WALK_ONLY: every element typed by the walk). typing_paths_test
// compares the two files: the fast path must decide exactly as the walk does.
// A doctest program (host_process.cc REQUIREs): its one case writes the file.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "stfw/abi/ttst_abi.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/host_process.h"

using ttst::stfw::testing::HostProcess;
using ttst::stfw::testing::HostTransfer;
using ttst::stfw::testing::run_transfer;
using ttst::stfw::testing::TransferRun;

namespace {

// v1's layouts (stfw/tests/programs/state/v1/state.c):
//   struct tnode { int key; struct tnode *left, *right; }          24 bytes
//   struct entry { char *key; int value; struct entry *next; }     24 bytes
//   struct dnode { struct dnode *prev, *next; int v; }             24 bytes
constexpr uint64_t kNode = 24;

std::string allocations;  // "size:origin " per call, in order
uint64_t alloc_into_future(void* ctx, uint64_t size, uint64_t site, uint64_t origin) {
  allocations += std::to_string(size) + ":" + std::to_string(origin) + " ";
  return ttst::stfw::testing::carve_future(ctx, size, site, origin);
}

void put_ptr(uint8_t* at, const void* target) {
  const uint64_t v = reinterpret_cast<uint64_t>(target);
  std::memcpy(at, &v, 8);
}

// F's memory after the transfer, FNV-1a over its 8-byte words, each word that is an
// address in F's or P's buffer taken relative to that buffer (the two dump programs
// get their buffers at different addresses).
uint64_t digest(const HostProcess& f, const HostProcess& p) {
  uint64_t h = 1469598103934665603ull;
  for (uint64_t i = 0; i + 8 <= HostProcess::kMemSize; i += 8) {
    uint64_t w;
    std::memcpy(&w, f.mem + i, 8);
    if (w - f.bias() < HostProcess::kMemSize) w = (w - f.bias()) | (1ull << 62);
    else if (w - p.bias() < HostProcess::kMemSize) w = (w - p.bias()) | (1ull << 63);
    for (int b = 0; b < 8; ++b) h = (h ^ ((w >> (8 * b)) & 0xff)) * 1099511628211ull;
  }
  return h;
}

// The source's heap for one case. Objects are laid out so that the typing meets
// targets both ahead of its sweep (marked) and behind it (typed from the stack).
struct Case {
  const char* name;
  void (*build)(HostProcess& p);
};

// A tree of tnodes (its root allocated last, so the whole tree is behind the sweep),
// hash chains of entries with heap string keys, a ring of dnodes around a global.
void build_plain(HostProcess& p) {
  uint8_t* t[7];
  for (int i = 0; i < 7; ++i) {
    t[i] = p.add_heap_object(0xb000 + 0x80 * (6 - i), kNode, 10 + i);
    const int32_t key = 10 * i;
    std::memcpy(t[i], &key, 4);
  }
  put_ptr(t[0] + 8, t[1]), put_ptr(t[0] + 16, t[2]);  // t0 the root: children below it in memory
  put_ptr(t[1] + 8, t[3]), put_ptr(t[1] + 16, t[4]);
  put_ptr(t[2] + 8, t[5]), put_ptr(t[2] + 16, t[6]);
  p.put<uint64_t>("root", 0, reinterpret_cast<uint64_t>(t[0]));
  for (int b = 0; b < 3; ++b) {
    uint8_t* next = nullptr;
    for (int k = 0; k < 3; ++k) {  // entries ahead of their keys and behind them, alternately
      const uint64_t base = 0xb400 + 0x300 * b + 0x100 * k;
      uint8_t* key = p.add_heap_object(k % 2 ? base + 0x80 : base, 6, 30 + 4 * b + k);
      uint8_t* e = p.add_heap_object(k % 2 ? base : base + 0x80, kNode, 50 + 4 * b + k);
      std::snprintf(reinterpret_cast<char*>(key), 6, "k%d.%d", b, k);
      put_ptr(e, key);
      const int32_t value = 100 * b + k;
      std::memcpy(e + 8, &value, 4);
      if (next) put_ptr(e + 16, next);
      next = e;
    }
    p.put<uint64_t>("buckets", 8 * b, reinterpret_cast<uint64_t>(next));
  }
  const uint64_t ring = p.addr("ring");
  uint8_t* prev = p.at("ring");
  for (int i = 0; i < 3; ++i) {  // ring <-> d0 <-> d1 <-> d2 <-> ring: pointers into a global
    uint8_t* d = p.add_heap_object(0xbe00 + 0x80 * i, kNode, 80 + i);
    const int32_t v = i + 1;
    std::memcpy(d + 16, &v, 4);
    put_ptr(d, prev), put_ptr(prev + 8, d);
    prev = d;
  }
  put_ptr(prev + 8, reinterpret_cast<void*>(ring));
  p.put<uint64_t>("ring", 0, reinterpret_cast<uint64_t>(prev));
}

// A heap block reached as an entry's char key first and as a tnode later: typed
// char, then upgraded to struct tnode by the walk (queued again).
void build_upgrade(HostProcess& p) {
  uint8_t* shared = p.add_heap_object(0xb000, kNode, 1);
  uint8_t* e = p.add_heap_object(0xb100, kNode, 2);
  uint8_t* t = p.add_heap_object(0xb200, kNode, 3);
  put_ptr(e, shared);  // e->key: the block as chars
  put_ptr(t + 8, shared);  // t->left: the same block as a tnode
  p.put<uint64_t>("buckets", 0, reinterpret_cast<uint64_t>(e));
  p.put<uint64_t>("root", 0, reinterpret_cast<uint64_t>(t));
}

// One block reached as a tnode and as an entry: refused (two struct types), the
// message naming the paths that reached it first.
void build_two_types(HostProcess& p) {
  uint8_t* shared = p.add_heap_object(0xb000, kNode, 1);
  uint8_t* t = p.add_heap_object(0xb100, kNode, 2);
  uint8_t* e = p.add_heap_object(0xb200, kNode, 3);
  uint8_t* e2 = p.add_heap_object(0xb300, kNode, 4);
  put_ptr(t + 16, shared);  // root->right
  put_ptr(e + 16, e2), put_ptr(e2 + 16, shared);  // buckets[2]->next->next
  p.put<uint64_t>("root", 0, reinterpret_cast<uint64_t>(t));
  p.put<uint64_t>("buckets", 16, reinterpret_cast<uint64_t>(e));
}

// An entry whose next points into the middle of another entry (not a base): the
// plan leaves the element to the walk.
void build_interior(HostProcess& p) {
  uint8_t* a = p.add_heap_object(0xb000, kNode, 1);
  uint8_t* b = p.add_heap_object(0xb100, kNode, 2);
  put_ptr(a + 16, b + 8);
  p.put<uint64_t>("buckets", 0, reinterpret_cast<uint64_t>(a));
  p.put<uint64_t>("buckets", 8, reinterpret_cast<uint64_t>(b));
}

const Case kCases[] = {
    {"plain", build_plain},
    {"upgrade", build_upgrade},
    {"two_types", build_two_types},
    {"interior", build_interior},
};

std::string run_case(const Case& c) {
  HostProcess p("stfw/tests/programs/state/state_v1"), f("stfw/tests/programs/state/state_v2");
  c.build(p);
  ttst::stfw::testing::carve_future_from(f, 0xd000), allocations.clear();  // each case starts over
  HostTransfer how;
  how.alloc = &alloc_into_future;
  TransferRun run = run_transfer(p, f, how);
  std::ostringstream line;
  line << c.name << " status=" << run.r.status << " objects=" << run.r.objects << " bytes=" << run.r.bytes
       << " pointers=" << run.r.pointers << " untyped_copied=" << run.r.untyped_copied << " allocations=[" << allocations << "] memory="
       << std::hex << digest(f, p) << std::dec << " message=" << run.msg
       << " fix=" << run.fix;
  return line.str();
}

}  // namespace

TEST_CASE("typing cases: one canonical line each, to $TYPING_DUMP_OUT") {
  const char* out = std::getenv("TYPING_DUMP_OUT");
  REQUIRE(out != nullptr);
  std::ofstream file(out);
  for (const Case& c : kCases) file << run_case(c) << "\n";
  REQUIRE(file.good());
}
