// The heap lists enumerate exactly the live objects, read from a bulk copy of the
// program's memory (as an agent would), after millions of random operations
// across threads, after fork, and after forks taken while threads allocate.
#include <doctest/doctest.h>

#include <set>
#include <unordered_map>

#include "stfw/runtime/tests/child.h"
#include "stfw/abi/ttst_heap_reader.h"

using ttst::test::Child;
using ttst::test::MemoryCopy;

namespace {

const char* kProg = "tests/programs/runtime/heap_stress";

struct Slot {
  uint64_t p, size;
  uint32_t lock, pad;
};

struct Seen {
  std::unordered_map<uint64_t, ttst_heap_desc> objects;
};

int collect(void* ctx, uint64_t addr, const ttst_heap_desc* d) {
  static_cast<Seen*>(ctx)->objects.emplace(addr, *d);
  return 0;
}

// Checks the program that printed `ready` ("READY pid rt slots nslots").
void check_exact(const std::string& ready) {
  auto w = ttst::test::words(ready);
  REQUIRE(w.size() == 5);
  REQUIRE(w[0] == "READY");
  pid_t pid = std::stoi(w[1]);
  uint64_t rt = ttst::test::hex(w[2]), slots = ttst::test::hex(w[3]);
  size_t nslots = std::stoul(w[4]);

  MemoryCopy mem = MemoryCopy::of(pid);
  Seen seen;
  int64_t n = ttst_heap_walk(rt, MemoryCopy::translate, &mem, collect, &seen);
  REQUIRE(n >= 0);
  CHECK(static_cast<size_t>(n) == seen.objects.size());

  const auto* control = static_cast<const ttst_runtime*>(mem.at(rt, sizeof(ttst_runtime)));
  REQUIRE(control);
  const auto* s = static_cast<const Slot*>(mem.at(slots, nslots * sizeof(Slot)));
  REQUIRE(s);

  size_t held = 0, from_exe = 0, from_lib = 0;
  for (size_t i = 0; i < nslots; i++) {
    if (!s[i].p) continue;
    held++;
    auto it = seen.objects.find(s[i].p);
    REQUIRE_MESSAGE(it != seen.objects.end(), "slot " << i << " holds a block the lists do not have");
    CHECK(it->second.size == s[i].size);
    CHECK((it->second.flags & TTST_HEAP_F_FROM_LIB) == 0);
    CHECK(s[i].lock == 0);
  }
  std::set<uint64_t> ids;
  for (auto& [addr, d] : seen.objects) {
    CHECK(ids.insert(d.dyn_id).second);  // unique
    CHECK(d.dyn_id > 0);
    CHECK(d.dyn_id < control->next_dyn_id);
    CHECK(d.origin_id == 0);
    bool lib = d.flags & TTST_HEAP_F_FROM_LIB;
    CHECK(lib == (d.site < control->exe_text_start || d.site >= control->exe_text_end));
    (lib ? from_lib : from_exe)++;
    if (d.flags & TTST_HEAP_F_ALIGNED) CHECK(addr % 8 == 0);
  }
  // Exact: every block of the program is a slot, and every slot a block.
  CHECK(from_exe == held);
  CHECK(from_lib > 0);  // stdio's buffers, pthread's structures: libc's own mallocs
  MESSAGE("pid " << pid << ": " << held << " program blocks, " << from_lib << " libc blocks, "
                 << control->next_dyn_id - 1 << " allocations in all");
}

}  // namespace

TEST_CASE("enumeration is exact after 2 million random operations on 4 threads") {
  Child c({kProg, "plain", "4", "500000"});
  check_exact(c.line(300000));
  c.send("\n");
  CHECK(c.wait() == 0);
}

TEST_CASE("enumeration is exact in a forked child and in its parent") {
  Child c({kProg, "fork", "3", "300000"});
  std::string child = c.line(300000), parent;
  check_exact(child);
  c.send("\n");
  parent = c.line(300000);
  CHECK(ttst::test::words(child)[1] != ttst::test::words(parent)[1]);
  check_exact(parent);
  c.send("\n");
  CHECK(c.wait() == 0);
}

TEST_CASE("forks taken while 3 threads allocate leave consistent lists and no held lock") {
  Child c({kProg, "forkbusy", "3", "0"});
  CHECK(c.line(600000) == "FORKS ok=10 bad=0");
  check_exact(c.line(600000));
  c.send("\n");
  CHECK(c.wait() == 0);
}

TEST_CASE("a corrupted link is reported, not followed") {
  Child c({kProg, "plain", "1", "1000"});
  auto w = ttst::test::words(c.line());
  REQUIRE(w.size() == 5);
  MemoryCopy mem = MemoryCopy::of(std::stoi(w[1]));
  uint64_t rt = ttst::test::hex(w[2]);
  REQUIRE(ttst_heap_walk(rt, MemoryCopy::translate, &mem, nullptr, nullptr) > 0);
  // Point the first live object of stripe 0 back at itself: a cycle.
  auto* control = const_cast<ttst_runtime*>(static_cast<const ttst_runtime*>(mem.at(rt, sizeof(ttst_runtime))));
  uint64_t first = reinterpret_cast<uint64_t>(control->stripes[0].head.next);
  auto* d = const_cast<ttst_heap_desc*>(static_cast<const ttst_heap_desc*>(mem.at(first, sizeof(ttst_heap_desc))));
  REQUIRE(d);
  d->next = reinterpret_cast<ttst_heap_desc*>(first);
  CHECK(ttst_heap_walk(rt, MemoryCopy::translate, &mem, nullptr, nullptr) == TTST_HEAP_WALK_BAD_LINK);
  d->magic = 0;
  CHECK(ttst_heap_walk(rt, MemoryCopy::translate, &mem, nullptr, nullptr) == TTST_HEAP_WALK_BAD_MAGIC);
  control->stripes[0].lock = 1;
  CHECK(ttst_heap_walk(rt, MemoryCopy::translate, &mem, nullptr, nullptr) == TTST_HEAP_WALK_LOCKED);
  control->magic = 0;
  CHECK(ttst_heap_walk(rt, MemoryCopy::translate, &mem, nullptr, nullptr) == TTST_HEAP_WALK_NO_RUNTIME);
  c.send("\n");
  CHECK(c.wait() == 0);
}
