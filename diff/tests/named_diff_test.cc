// named_diff_test — end to end: P (forked from this test) holds globals and heap
// objects tracked with ttst_abi.h descriptors, as a ttst-cc program does; R is a
// raw fork of P; the test writes R through /proc/PID/mem; the differ finds the
// bytes and the namer names them from a hand-built StateModel plus the heap
// objects read from P's descriptors. Includes one flipped bit in 1 GiB of state.
#include <doctest/doctest.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "diff/differ.h"
#include "diff/heap_walk.h"
#include "diff/naming.h"
#include "diff/state_model.h"
#include "diff/testing/state_pair.h"
#include "stfw/abi/ttst_abi.h"

using ttst::diff::MemberDesc;
using ttst::diff::TypeDesc;
using ttst::diff::testing::StatePair;

namespace {

// --- A stand-in for the runtime's heap tracking (stfw/runtime owns the real one).
ttst_runtime g_runtime;

void runtime_init() {
  memset(&g_runtime, 0, sizeof g_runtime);
  g_runtime.magic = TTST_RUNTIME_MAGIC;
  g_runtime.abi_version = TTST_ABI_VERSION;
  g_runtime.desc_size = sizeof(ttst_heap_desc);
  g_runtime.next_dyn_id = 1;
  for (auto& st : g_runtime.stripes) {
    st.head.prev = st.head.next = &st.head;
    st.head.magic = TTST_HEAP_HEAD;
  }
}

void* tracked_alloc(size_t size, uint64_t site) {
  void* block = mmap(nullptr, size + sizeof(ttst_heap_desc), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(block != MAP_FAILED);
  auto* d = static_cast<ttst_heap_desc*>(block);
  *d = {};
  d->magic = TTST_HEAP_LIVE;
  d->size = size;
  d->site = site;
  d->dyn_id = g_runtime.next_dyn_id++;
  const uint32_t stripe = d->dyn_id % TTST_HEAP_STRIPES;
  d->flags = stripe << TTST_HEAP_STRIPE_SHIFT;
  ttst_heap_stripe& st = g_runtime.stripes[stripe];
  d->prev = st.head.prev;
  d->next = &st.head;
  st.head.prev->next = d;
  st.head.prev = d;
  st.live++;
  return d + 1;
}

// --- The program's state.
struct conn {
  int fd;
  char name[16];
  struct conn* next;
};
struct config {
  int port;
  int ports[8];
  double load;
};
config g_cfg;
conn g_conns[4];
long g_counter;
conn* g_heap_conns;  // 3 conns on the heap
uint64_t* g_big;     // 1 GiB of uint64_t on the heap

constexpr uint64_t kConnSite = 0x401111, kBigSite = 0x402222;

void setup_small() {
  runtime_init();
  g_counter = 1000;
  g_cfg.port = 80;
  for (int i = 0; i < 8; i++) g_cfg.ports[i] = 8000 + i;
  g_cfg.load = 0.5;
  for (int i = 0; i < 4; i++) {
    g_conns[i].fd = 10 + i;
    snprintf(g_conns[i].name, sizeof g_conns[i].name, "client%c", static_cast<char>('0' + i));
  }
  g_heap_conns = static_cast<conn*>(tracked_alloc(3 * sizeof(conn), kConnSite));
  for (int i = 0; i < 3; i++) {
    g_heap_conns[i].fd = 100 + i;
    snprintf(g_heap_conns[i].name, sizeof g_heap_conns[i].name, "heap%c", static_cast<char>('0' + i));
    g_heap_conns[i].next = i < 2 ? &g_heap_conns[i + 1] : nullptr;
  }
}

// What dwarfmeta's adapter would produce for this program.
enum : uint32_t { kInt = 1, kLong, kChar, kName, kConnPtr, kConn, kConnArr, kInts, kDouble, kConfig, kU64 };

ttst::diff::StateModel model() {
  ttst::diff::StateModel m;
  auto add = [&](TypeDesc t) { m.types.push_back(std::move(t)); };
  add({TypeDesc::Base, TypeDesc::Signed, "int", 4, {}, 0, 0, {}});
  add({TypeDesc::Base, TypeDesc::Signed, "long", 8, {}, 0, 0, {}});
  add({TypeDesc::Base, TypeDesc::Char, "char", 1, {}, 0, 0, {}});
  add({TypeDesc::Array, TypeDesc::Unsigned, "char [16]", 16, {}, kChar, 16, {}});
  add({TypeDesc::Pointer, TypeDesc::Unsigned, "struct conn *", 8, {}, 0, 0, {}});
  add({TypeDesc::Struct, TypeDesc::Unsigned, "struct conn", sizeof(conn),
       {MemberDesc{"fd", offsetof(conn, fd), kInt}, MemberDesc{"name", offsetof(conn, name), kName},
        MemberDesc{"next", offsetof(conn, next), kConnPtr}},
       0, 0, {}});
  add({TypeDesc::Array, TypeDesc::Unsigned, "struct conn [4]", sizeof g_conns, {}, kConn, 4, {}});
  add({TypeDesc::Array, TypeDesc::Unsigned, "int [8]", 32, {}, kInt, 8, {}});
  add({TypeDesc::Base, TypeDesc::Float, "double", 8, {}, 0, 0, {}});
  add({TypeDesc::Struct, TypeDesc::Unsigned, "struct config", sizeof(config),
       {MemberDesc{"port", offsetof(config, port), kInt}, MemberDesc{"ports", offsetof(config, ports), kInts},
        MemberDesc{"load", offsetof(config, load), kDouble}},
       0, 0, {}});
  add({TypeDesc::Base, TypeDesc::Unsigned, "uint64_t", 8, {}, 0, 0, {}});
  auto at = [](const void* p) { return reinterpret_cast<uint64_t>(p); };
  m.globals = {{"g_counter", at(&g_counter), kLong}, {"g_cfg", at(&g_cfg), kConfig},
               {"g_conns", at(&g_conns), kConnArr}};
  m.sites[kConnSite] = {"named_diff_test.cc:conns", kConn};
  m.sites[kBigSite] = {"named_diff_test.cc:big", kU64};
  return m;
}

template <typename T>
T peek(pid_t pid, const T* addr) {
  T v;
  ttst::diff::Memory mem(pid);
  REQUIRE(mem.read(reinterpret_cast<uint64_t>(addr), &v, sizeof v));
  return v;
}

struct Named {
  ttst::diff::Result res;
  std::vector<ttst::diff::NamedDiff> named;
  std::string report;
};

Named diff_and_name(const StatePair& pair) {
  ttst::diff::Options o;
  o.kernel_fields = ttst::diff::testing::caller_rseq_fields();
  Named n;
  n.res = ttst::diff::diff_processes(pair.p(), pair.r(), o);
  ttst::diff::Memory p(pair.p()), r(pair.r());
  ttst::diff::StateModel m = model();
  std::string error;
  REQUIRE_MESSAGE(ttst::diff::read_heap_objects(p, reinterpret_cast<uint64_t>(&g_runtime), m.heap, error), error);
  ttst::diff::ModelNamer namer(std::move(m));
  n.named = ttst::diff::name_differences(n.res, namer, p, r);
  n.report = ttst::diff::format_report(n.res, n.named);
  return n;
}

// All named values of the diff, "path: P p  R r" per line.
std::vector<std::string> values(const Named& n) {
  std::vector<std::string> out;
  for (auto& nd : n.named)
    for (auto& v : nd.values) out.push_back(v.name.path + ": P " + v.p + "  R " + v.r);
  return out;
}

}  // namespace

TEST_CASE("a global, a struct member, an array element and a heap object are named") {
  StatePair pair(setup_small);
  conn* heap = peek(pair.p(), &g_heap_conns);
  ttst::diff::testing::poke_value<long>(pair.r(), &g_counter, 999);
  ttst::diff::testing::poke_value<double>(pair.r(), &g_cfg.load, 0.75);
  ttst::diff::testing::poke_value<int>(pair.r(), &g_cfg.ports[3], -1);
  ttst::diff::testing::poke(pair.r(), reinterpret_cast<uint64_t>(&g_conns[2].name[6]), "X", 1);
  ttst::diff::testing::poke_value<conn*>(pair.r(), &heap[1].next, nullptr);
  ttst::diff::testing::poke_value<int>(pair.r(), &heap[2].fd, 7);
  Named n = diff_and_name(pair);
  INFO(n.report);
  CHECK(n.res.mappings.empty());
  const uint64_t next1 = reinterpret_cast<uint64_t>(&heap[2]);
  char next1_hex[32];
  snprintf(next1_hex, sizeof next1_hex, "0x%lx", static_cast<unsigned long>(next1));
  const size_t off_next1 = sizeof(conn) + offsetof(conn, next), off_fd2 = 2 * sizeof(conn);
  std::vector<std::string> got = values(n);
  std::sort(got.begin(), got.end());  // the linker decides the globals' order
  CHECK(got == std::vector<std::string>{
                         "g_cfg.load: P 0.5  R 0.75",
                         "g_cfg.ports[3]: P 8003  R -1",
                         "g_conns[2].name: P \"client2\"  R \"clientX\"",
                         "g_counter: P 1000  R 999",
                         "heap object named_diff_test.cc:conns #1 +" + std::to_string(off_next1) +
                             " → [1].next: P " + next1_hex + "  R NULL",
                         "heap object named_diff_test.cc:conns #1 +" + std::to_string(off_fd2) +
                             " → [2].fd: P 102  R 7",
                     });
  MESSAGE(n.report);
}

TEST_CASE("one flipped bit anywhere in a 1 GiB state is found and named") {
  constexpr size_t kSize = size_t{1} << 30;
  StatePair pair([] {
    setup_small();
    g_big = static_cast<uint64_t*>(tracked_alloc(kSize, kBigSite));
    for (size_t i = 0; i < kSize / 8; i++) g_big[i] = i * 0x9e3779b97f4a7c15ull;
  });
  uint64_t* big = peek(pair.p(), &g_big);
  std::random_device rd;
  const uint64_t seed = (static_cast<uint64_t>(rd()) << 32) | rd();
  std::mt19937_64 rng(seed);
  const uint64_t byte = rng() % kSize;
  const unsigned bit = static_cast<unsigned>(rng() % 8);
  INFO("seed " << seed << ": byte " << byte << " bit " << bit);
  const uint64_t word = byte / 8, before = word * 0x9e3779b97f4a7c15ull;
  const uint64_t after = before ^ (uint64_t{1} << (8 * (byte % 8) + bit));
  ttst::diff::testing::poke_value<uint64_t>(pair.r(), &big[word], after);
  Named n = diff_and_name(pair);
  INFO(n.report);
  CHECK(n.res.mappings.empty());
  REQUIRE(n.res.bytes.size() == 1);
  CHECK(n.res.more_byte_diffs == 0);
  const ttst::diff::ByteDiff& d = n.res.bytes[0];
  CHECK(d.addr == reinterpret_cast<uint64_t>(big) + byte);
  CHECK(d.len == 1);
  CHECK((d.p[0] ^ d.r[0]) == (1u << bit));
  CHECK(n.res.stats.mode == "frames");
  CHECK(n.res.stats.pages_read < 16);  // the rest was skipped by frame
  CHECK(values(n) == std::vector<std::string>{"heap object named_diff_test.cc:big #2 +" +
                                              std::to_string(word * 8) + " → [" + std::to_string(word) +
                                              "]: P " + std::to_string(before) + "  R " + std::to_string(after)});
  MESSAGE(n.report);
}

TEST_CASE("a damaged heap list is reported, not followed") {
  StatePair pair(setup_small);
  conn* heap = peek(pair.p(), &g_heap_conns);
  auto* desc = reinterpret_cast<ttst_heap_desc*>(heap) - 1;
  ttst::diff::testing::poke_value<uint64_t>(pair.p(), &desc->magic, 0);  // damage P's copy
  ttst::diff::Memory p(pair.p());
  std::vector<ttst::diff::HeapObject> objs;
  std::string error;
  CHECK(!ttst::diff::read_heap_objects(p, reinterpret_cast<uint64_t>(&g_runtime), objs, error));
  CHECK(error == "heap list holds a descriptor that is not live");
  CHECK(!ttst::diff::read_heap_objects(p, reinterpret_cast<uint64_t>(&g_counter), objs, error));
}
