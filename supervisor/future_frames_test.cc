// future_frames_test — the forward transfer's list of superseded start-up objects as
// the supervisor reads it from the agent's output (stfw_task.h): the figures line
// skipped, each "superseded" line parsed, a garbled one an internal error (never a
// silently shorter list, which would weaken the check of F's stack). Then
// settle_future_frames on a real stopped child standing in for F: a register inside
// a superseded object remapped (or the register named when it has no counterpart),
// and a stack word left inside one caught.
#include "supervisor/future_frames.h"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "inject/process.h"
#include "supervisor/transaction_end.h"

using ttst::supervisor::parse_superseded;
using ttst::supervisor::settle_future_frames;
using ttst::supervisor::SupersededObject;
using ttst::supervisor::TransactionEnd;

namespace {

std::vector<uint8_t> output(const std::vector<std::string>& lines) {
  std::vector<uint8_t> out;
  for (const std::string& l : lines) out.insert(out.end(), l.begin(), l.end()), out.push_back(0);
  out.push_back(0);
  return out;
}

// A child standing in for F, spinning once its values are in place (it sets *ready,
// shared memory, only then). The values are immediates, so no copy of them sits in
// its stack unless asked: kRegister puts 0x5a5a00001008 in r12, kRegisterNoCounterpart
// 0x5a5a00002010, kStack stores 0x5a5a00003018 in a slot of its stack.
enum Variant { kRegister, kRegisterNoCounterpart, kStack };
struct Child {
  pid_t pid = -1;
  explicit Child(Variant v) {
    void* shared = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(shared != MAP_FAILED);
    auto* ready = static_cast<volatile uint64_t*>(shared);
    pid = fork();
    if (pid == 0) {
      volatile uint64_t slot = 0;
      if (v == kStack) slot = 0x5a5a00003018ull;
      if (v == kRegister) __asm__ volatile("movabs $0x5a5a00001008, %%r12" ::: "r12");
      if (v == kRegisterNoCounterpart) __asm__ volatile("movabs $0x5a5a00002010, %%r12" ::: "r12");
      __asm__ volatile("1: movq $1, (%0)\n pause\n jmp 1b" ::"r"(ready), "r"(&slot) : "memory");
      _exit(0);
    }
    for (int i = 0; i < 10000 && *ready == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const uint64_t seen = *ready;
    REQUIRE(seen == 1);
  }
  ~Child() {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
};

// Distinct heap-like addresses that nothing else on the child's stack holds.
uint64_t fake_object(uint64_t n) { return 0x5a5a00000000ull + n * 0x1000; }

}  // namespace

TEST_CASE("the superseded objects are read from the lines after the figures") {
  auto list = parse_superseded(output({"copy_cycles=1 superseded 0x1 0x2 0x3 1", "superseded 0x55f0 0x218 0x7700 1",
                                       "superseded 0x6000 0x10 0x0 0"}));
  REQUIRE(list.size() == 2);
  CHECK(list[0].addr == 0x55f0);
  CHECK(list[0].size == 0x218);
  CHECK(list[0].counterpart == 0x7700);
  CHECK(list[0].freed);
  CHECK(list[1].counterpart == 0);
  CHECK(!list[1].freed);
  CHECK(parse_superseded(output({"copy_cycles=1"})).empty());
}

TEST_CASE("a garbled superseded line ends the transaction as internal") {
  try {
    parse_superseded(output({"figures", "superseded 0x55f0 zz"}));
    FAIL("no error");
  } catch (const TransactionEnd& end) {
    CHECK(end.reason == ttst::supervisor::Reason::kInternal);
    CHECK(end.message.find("superseded 0x55f0 zz") != std::string::npos);
  }
}

TEST_CASE("F's registers inside a superseded object are remapped to its counterpart, same offset") {
  Child f(kRegister);
  auto seized = ttst::inject::SeizedProcess::seize(f.pid);
  std::vector<SupersededObject> list{{fake_object(1), 64, fake_object(9), true}, {fake_object(2), 64, 0, true}};
  CHECK(settle_future_frames(seized.main_thread(), list) == 1);
  CHECK(seized.main_thread().get_regs().r12 == fake_object(9) + 8);
}

TEST_CASE("a register inside a superseded object without counterpart rolls back naming the register") {
  Child f(kRegisterNoCounterpart);
  auto seized = ttst::inject::SeizedProcess::seize(f.pid);
  try {
    settle_future_frames(seized.main_thread(), {{fake_object(2), 64, 0, true}});
    FAIL("no rollback");
  } catch (const TransactionEnd& end) {
    CHECK(end.reason == ttst::supervisor::Reason::kInvariant);
    CHECK(end.message.find("register r12 ") != std::string::npos);
    CHECK(end.message.find("no unique counterpart") != std::string::npos);
  }
  CHECK(seized.main_thread().get_regs().r12 == fake_object(2) + 16);  // untouched
}

TEST_CASE("a stack word left inside a superseded object is caught before the commit") {
  Child f(kStack);
  auto seized = ttst::inject::SeizedProcess::seize(f.pid);
  try {
    settle_future_frames(seized.main_thread(), {{fake_object(3), 64, fake_object(8), true}});
    FAIL("no rollback");
  } catch (const TransactionEnd& end) {
    CHECK(end.reason == ttst::supervisor::Reason::kInvariant);
    CHECK(end.message.find("left a pointer to a freed start-up object (0x5a5a00003000)") != std::string::npos);
  }
  CHECK(settle_future_frames(seized.main_thread(), {{fake_object(4), 64, fake_object(8), true}}) == 0);
}
