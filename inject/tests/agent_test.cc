// agent_test.cc — the agent's outcomes as the host classifies them: finished with a
// status, crashed (NULL dereference, abort, stack overflow: signal, fault address,
// decoded faulting instruction, agent symbol), hung (infinite loop); reading the
// peer's memory; and that R is left exactly as before whatever the outcome.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "inject/sys/proc_entries.h"
#include "inject/sys/proc_maps.h"
#include "inject/testing_agent.h"
#include "inject/agent_image.h"
#include "inject/agent_session.h"
#include "inject/error.h"
#include "inject/memory.h"
#include "inject/sys/proc_status.h"
#include "inject/process.h"
#include "inject/process_factory.h"
#include "inject/registers.h"
#include "inject/tests/test_util.h"

using namespace ttst::inject;
using namespace ttst::inject::testing;
namespace sys = ttst::sys;

namespace {

struct Fixture {
  Spawned s;
  std::optional<SeizedProcess> p;
  std::optional<ChildProcess> r;
  Registers regs0;
  uint64_t mem0 = 0;

  Fixture() {
    become_subreaper();
    s = spawn_blocked({"read"}, {SYS_read});
    p.emplace(SeizedProcess::seize(s.pid));
    r.emplace(create_reversed(p->main_thread()));
    regs0 = Registers::capture(p->main_thread());
    mem0 = digest_writable_memory(s.pid).hash;
  }
  ~Fixture() {
    r.reset();
    p.reset();
    kill_and_reap(s.pid);
  }
  AgentOutcome run(uint32_t task, milliseconds timeout = milliseconds(3000), uint32_t helpers = 0,
                   uint64_t arg0 = 0, uint64_t arg1 = 0) {
    AgentRequest rq;
    rq.task = task;
    rq.timeout = timeout;
    rq.peer_pid = s.pid;
    rq.helpers = helpers;
    rq.args[0] = arg0;
    rq.args[1] = arg1;
    rq.heap_size = 64 << 20;
    return run_agent(r->task(), rq, testing_agent());
  }
  void check_r_untouched() {
    Registers now = Registers::capture(r->task());
    CHECK_MESSAGE(now == regs0, now.first_difference(regs0));
    CHECK(digest_writable_memory(r->pid()).hash == mem0);
  }
};

}  // namespace

TEST_CASE("the embedded agent parses: entry, RX text, no writable code") {
  const AgentImage& img = AgentImage::embedded();
  CHECK(img.entry() > 0);
  CHECK(img.entry() < img.span());
  bool has_exec = false;
  for (const auto& run : img.protections()) {
    if (run.prot & 4 /* PROT_EXEC */) has_exec = true;
    CHECK_FALSE(((run.prot & 2) && (run.prot & 4)));
  }
  CHECK(has_exec);
  CHECK(img.symbolize(img.entry()) == "ttst_agent_start+0x0");
  CHECK_THROWS(AgentImage::parse(std::span<const unsigned char>()));
}

TEST_CASE("empty, alloc and unknown tasks finish with their status") {
  Fixture fx;
  AgentOutcome out = fx.run(TTST_AGENT_TASK_EMPTY);
  CHECK_MESSAGE(out.kind == AgentOutcome::Kind::kFinished, out.describe());
  CHECK(out.status == 0);
  fx.check_r_untouched();

  AgentRequest rq;
  rq.task = TTST_AGENT_TASK_ALLOC;
  rq.args[0] = 100;
  rq.args[1] = 4096;
  rq.heap_size = 64 * 4096;
  out = run_agent(fx.r->task(), rq, testing_agent());
  REQUIRE_MESSAGE(out.kind == AgentOutcome::Kind::kFinished, out.describe());
  CHECK(out.status == 64);  // the arena holds exactly 64 blocks
  CHECK(out.detail[0] == 64 * 4096);

  out = fx.run(77);
  CHECK(out.kind == AgentOutcome::Kind::kFinished);
  CHECK(out.status == TTST_AGENT_STATUS_UNKNOWN_TASK);
  fx.check_r_untouched();
}

TEST_CASE("a NULL dereference is a crash at address 0 naming the load instruction") {
  Fixture fx;
  AgentOutcome out = fx.run(TTST_AGENT_TASK_NULL_DEREF);
  INFO(out.describe());
  REQUIRE(out.kind == AgentOutcome::Kind::kCrashed);
  CHECK(out.signal == SIGSEGV);
  CHECK(out.fault_address == 0);
  CHECK_FALSE(out.stack_overflow);
  CHECK(out.instruction.find("mov") == 0);
  CHECK(out.instruction.find("ptr [") != std::string::npos);
  CHECK(out.symbol.rfind("task_null_deref+", 0) == 0);
  fx.check_r_untouched();
}

TEST_CASE("abort is a SIGABRT crash naming the syscall that raised it") {
  Fixture fx;
  AgentOutcome out = fx.run(TTST_AGENT_TASK_ABORT);
  INFO(out.describe());
  REQUIRE(out.kind == AgentOutcome::Kind::kCrashed);
  CHECK(out.signal == SIGABRT);
  CHECK(out.instruction == "syscall");
  CHECK(out.symbol.rfind("task_abort+", 0) == 0);
  fx.check_r_untouched();
}

TEST_CASE("a stack overflow is a SIGSEGV in the guard pages, classified as such") {
  Fixture fx;
  AgentOutcome out = fx.run(TTST_AGENT_TASK_STACK_OVERFLOW);
  INFO(out.describe());
  REQUIRE(out.kind == AgentOutcome::Kind::kCrashed);
  CHECK(out.signal == SIGSEGV);
  CHECK(out.stack_overflow);
  CHECK_FALSE(out.instruction.empty());
  CHECK(out.symbol.rfind("recurse+", 0) == 0);
  fx.check_r_untouched();
}

TEST_CASE("an infinite loop is reported as hung after the timeout") {
  Fixture fx;
  auto t0 = std::chrono::steady_clock::now();
  AgentOutcome out = fx.run(TTST_AGENT_TASK_INFINITE_LOOP, milliseconds(200));
  auto took = std::chrono::steady_clock::now() - t0;
  INFO(out.describe());
  REQUIRE(out.kind == AgentOutcome::Kind::kHung);
  CHECK(took >= milliseconds(200));
  CHECK(took < milliseconds(2000));
  CHECK(out.symbol.rfind("task_infinite_loop+", 0) == 0);
  CHECK_FALSE(out.instruction.empty());
  fx.check_r_untouched();
  // The thread is usable again afterwards.
  CHECK(fx.run(TTST_AGENT_TASK_EMPTY).kind == AgentOutcome::Kind::kFinished);
}

TEST_CASE("progress is shown while the agent runs, and an agent claiming progress still times out") {
  Fixture fx;
  AgentRequest rq;
  rq.task = TTST_AGENT_TASK_INFINITE_LOOP;  // writes ever-growing progress words
  rq.timeout = milliseconds(2000);
  rq.progress_every = milliseconds(100);
  std::vector<std::array<uint64_t, 4>> seen;
  std::vector<milliseconds> at;
  rq.on_progress = [&](const std::array<uint64_t, 4>& p, milliseconds elapsed) {
    seen.push_back(p);
    at.push_back(elapsed);
  };
  AgentOutcome out = run_agent(fx.r->task(), rq, testing_agent());
  INFO(out.describe());
  CHECK(out.kind == AgentOutcome::Kind::kHung);
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.back()[0] == TTST_AGENT_PROGRESS_WRITE);
  CHECK(seen.back()[1] > 0);
  for (milliseconds e : at) CHECK(e < rq.timeout);  // shown only before the deadline, which never moved
  fx.check_r_untouched();
}

// The arena (the agent's heap: the peer's copy and the tables, hundreds of MiB in a
// large transfer) is advised MADV_HUGEPAGE while the agent runs: touched on huge
// pages where the kernel has them, a fault per 2 MiB instead of per 4 KiB.
TEST_CASE("the agent's heap is advised huge pages while it runs") {
  Fixture fx;
  AgentRequest rq;
  rq.task = TTST_AGENT_TASK_INFINITE_LOOP;
  rq.timeout = milliseconds(1500);
  rq.heap_size = 64ull << 20;
  rq.progress_every = milliseconds(100);
  uint64_t advised = 0;
  const pid_t r = fx.r->pid();
  rq.on_progress = [&](const std::array<uint64_t, 4>&, milliseconds) {
    if (!advised) advised = huge_advised_bytes(r);
  };
  AgentOutcome out = run_agent(fx.r->task(), rq, testing_agent());
  INFO(out.describe());
  CHECK(out.kind == AgentOutcome::Kind::kHung);
  CHECK(advised >= rq.heap_size - (4ull << 20));  // all of it but the 2 MiB-unaligned ends
  CHECK(huge_advised_bytes(r) == 0);  // the region gone with the agent: nothing advised left
  fx.check_r_untouched();
}

TEST_CASE("the agent reads its peer's memory (in R and in a freshly exec'd F)") {
  Fixture fx;
  // Some writable bytes of P: the start of its data segment or heap.
  sys::Mapping target{};
  for (const sys::Mapping& m : sys::read_maps(fx.s.pid))
    if (m.writable() && m.readable() && m.path.find("[heap]") != std::string::npos) target = m;
  REQUIRE(target.start != 0);
  std::vector<uint8_t> expect = read_memory(fx.s.pid, target.start, 4096);

  AgentRequest rq;
  rq.task = TTST_AGENT_TASK_READ_PEER;
  rq.peer_pid = fx.s.pid;
  rq.args[0] = target.start;
  rq.args[1] = 4096;
  AgentOutcome out = run_agent(fx.r->task(), rq, testing_agent());
  REQUIRE_MESSAGE(out.kind == AgentOutcome::Kind::kFinished, out.describe());
  CHECK(out.status == 0);
  CHECK(out.output == expect);
  fx.check_r_untouched();

  FutureSpec spec;
  spec.exe = runfile("tests/programs/blocker/blocker_bin");
  ChildProcess f = create_future(fx.p->main_thread(), spec);
  Registers fregs = Registers::capture(f.task());
  out = run_agent(f.task(), rq, testing_agent());
  REQUIRE_MESSAGE(out.kind == AgentOutcome::Kind::kFinished, out.describe());
  CHECK(out.output == expect);
  Registers fnow = Registers::capture(f.task());
  CHECK_MESSAGE(fnow == fregs, fnow.first_difference(fregs));
}

TEST_CASE("a process killed while its agent runs is reported as died") {
  Fixture fx;
  AgentRequest rq;
  rq.task = TTST_AGENT_TASK_INFINITE_LOOP;
  rq.timeout = milliseconds(3000);
  pid_t rpid = fx.r->pid();
  std::thread killer([rpid] {
    // Once the agent runs: the looping task keeps R running in user mode.
    for (int i = 0; i < 5000 && [rpid] { auto st = ttst::sys::ProcStatus::read(rpid); return st ? st->state() : '?'; }() != 'R'; ++i) std::this_thread::sleep_for(milliseconds(1));
    kill(rpid, SIGKILL);
  });
  AgentOutcome out = run_agent(fx.r->task(), rq, testing_agent());
  killer.join();
  CHECK(out.kind == AgentOutcome::Kind::kDied);
  // P is untouched.
  CHECK(Registers::capture(fx.p->main_thread()) == fx.regs0);
  CHECK(digest_writable_memory(fx.s.pid).hash == fx.mem0);
}

TEST_CASE("an agent that forks is a crash; the new process is killed at once") {
  Fixture fx;
  std::string children_before = slurp("/proc/" + std::to_string(fx.r->pid()) + "/task/" +
                                      std::to_string(fx.r->pid()) + "/children");
  AgentOutcome out = fx.run(TTST_AGENT_TASK_FORK);
  INFO(out.describe());
  REQUIRE(out.kind == AgentOutcome::Kind::kCrashed);
  CHECK(out.escaped.find("create a process") != std::string::npos);
  CHECK(out.instruction == "syscall");
  CHECK(out.symbol.rfind("task_fork+", 0) == 0);
  // The forked process is dead (a zombie of R at most, never running).
  std::string children = slurp("/proc/" + std::to_string(fx.r->pid()) + "/task/" +
                               std::to_string(fx.r->pid()) + "/children");
  std::istringstream in(children);
  pid_t child;
  while (in >> child) CHECK(gone(child, milliseconds(100)));
  CHECK(children_before.empty());
  // R's registers are restored even so.
  Registers now = Registers::capture(fx.r->task());
  CHECK(now == fx.regs0);
}

// The threads of a process now, from /proc (none when it is gone).
size_t thread_count(pid_t pid) { return sys::thread_ids(pid).value_or(std::vector<pid_t>{}).size(); }

TEST_CASE("a helper thread the request allows faults the agent's memory in and is joined before the finish") {
  Fixture fx;
  constexpr uint64_t kBytes = 32ull << 20;
  AgentOutcome out = fx.run(TTST_AGENT_TASK_HELPER, milliseconds(5000), 1, kBytes);
  INFO(out.describe());
  REQUIRE(out.kind == AgentOutcome::Kind::kFinished);
  CHECK(out.status == 0);
  CHECK(out.detail[0] == kBytes);  // resident, though the agent itself never touched it
  CHECK(thread_count(fx.r->pid()) == 1);
  fx.check_r_untouched();
  // Not allowed: no helper is started (the agent goes on without it).
  AgentOutcome alone = fx.run(TTST_AGENT_TASK_HELPER, milliseconds(5000), 0, kBytes);
  REQUIRE(alone.kind == AgentOutcome::Kind::kFinished);
  CHECK(alone.status == 1);
  CHECK(thread_count(fx.r->pid()) == 1);
  fx.check_r_untouched();
}

TEST_CASE("a function queued behind a range the helper is faulting in runs before the rest of the range") {
  // The engine's second thread (agent_beside) must not wait behind F's new heap
  // being faulted in: the agent waits for it, never for a range.
  Fixture fx;
  constexpr uint64_t kBytes = 32ull << 20;
  AgentOutcome out = fx.run(TTST_AGENT_TASK_HELPER, milliseconds(5000), 1, kBytes, 1);
  INFO(out.describe());
  REQUIRE(out.kind == AgentOutcome::Kind::kFinished);
  CHECK(out.status == 0);
  CHECK(out.detail[1] == 1);       // the block's last page was not faulted in yet when it ran
  CHECK(out.detail[0] == kBytes);  // and the range was finished afterwards
  CHECK(thread_count(fx.r->pid()) == 1);
  fx.check_r_untouched();
}

TEST_CASE("a helper thread that crashes is the agent's crash; the process, never let go, is killed") {
  Fixture fx;
  const pid_t r = fx.r->pid();
  AgentOutcome out = fx.run(TTST_AGENT_TASK_HELPER_CRASH, milliseconds(5000), 1);
  INFO(out.describe());
  REQUIRE(out.kind == AgentOutcome::Kind::kCrashed);
  CHECK(out.in_helper);
  CHECK(out.signal == SIGSEGV);
  CHECK(out.fault_address == 0);
  CHECK(out.symbol.rfind("null_deref_thread+", 0) == 0);
  CHECK(out.describe().find("in its helper thread") != std::string::npos);
  CHECK(gone(r, milliseconds(2000)));
  // P is untouched.
  CHECK(Registers::capture(fx.p->main_thread()) == fx.regs0);
  CHECK(digest_writable_memory(fx.s.pid).hash == fx.mem0);
}

TEST_CASE("an agent that finishes with its helper thread running is a crash; the process is killed") {
  Fixture fx;
  const pid_t r = fx.r->pid();
  AgentOutcome out = fx.run(TTST_AGENT_TASK_HELPER_LEFT, milliseconds(5000), 1);
  INFO(out.describe());
  REQUIRE(out.kind == AgentOutcome::Kind::kCrashed);
  CHECK(out.in_helper);
  CHECK(out.escaped.find("helper thread still ran") != std::string::npos);
  CHECK(gone(r, milliseconds(2000)));
}

TEST_CASE("a thread beyond the helpers allowed is an escape; none at all without the request's leave") {
  for (uint32_t helpers : {0u, 1u}) {
    CAPTURE(helpers);
    Fixture fx;
    const pid_t r = fx.r->pid();
    AgentOutcome out = fx.run(helpers ? TTST_AGENT_TASK_HELPER_TWO : TTST_AGENT_TASK_HELPER_LEFT, milliseconds(5000),
                              helpers);
    INFO(out.describe());
    REQUIRE(out.kind == AgentOutcome::Kind::kCrashed);
    CHECK(out.escaped.find("created a thread") != std::string::npos);
    if (helpers) CHECK(gone(r, milliseconds(2000)));  // the adopted one is never let go
  }
}

namespace {

bool mapped(pid_t pid, uint64_t addr) {
  for (const sys::Mapping& m : sys::read_maps(pid))
    if (addr >= m.start && addr < m.end) return true;
  return false;
}

AgentRequest keep_request(Fixture& fx, uint32_t task, uint64_t arg0, uint64_t arg1 = 0) {
  AgentRequest rq;
  rq.task = task;
  rq.peer_pid = fx.s.pid;
  rq.args[0] = arg0;
  rq.args[1] = arg1;
  rq.heap_size = 1 << 20;
  return rq;
}

}  // namespace

TEST_CASE("a kept region carries a run's heap to the next run in it; cured, nothing is left") {
  // Pre-copy's second stop (supervisor/README.md, stage 2) runs the transfer again
  // on the state the round's run built in the agent's heap.
  Fixture fx;
  AgentRequest store = keep_request(fx, TTST_AGENT_TASK_KEEP_STORE, 0x5a);
  store.keep_region = true;
  AgentOutcome first = run_agent(fx.r->task(), store, testing_agent());
  INFO(first.describe());
  REQUIRE(first.kind == AgentOutcome::Kind::kFinished);
  REQUIRE(first.status == 0);
  REQUIRE(first.kept.has_value());
  const AgentRegion kept = *first.kept;
  CHECK(kept.start == first.region_start);
  CHECK(mapped(fx.r->pid(), kept.start));
  CHECK(Registers::capture(fx.r->task()) == fx.regs0);  // the thread's context restored all the same
  const uint64_t block = first.detail[0];
  CHECK(block >= kept.start + kept.layout.heap);
  CHECK(block + 4096 <= kept.start + kept.heap_next);  // the next run's heap starts after it

  AgentRequest check = keep_request(fx, TTST_AGENT_TASK_KEEP_CHECK, block, 0x5a);
  check.in_region = &kept;
  check.keep_region = true;
  AgentOutcome second = run_agent(fx.r->task(), check, testing_agent());
  INFO(second.describe());
  REQUIRE(second.kind == AgentOutcome::Kind::kFinished);
  CHECK(second.status == 0);  // the first run's block as it left it
  CHECK(second.region_start == kept.start);
  CHECK(second.detail[1] == kept.start + kept.heap_next);
  CHECK(second.detail[0] >= kept.start + kept.heap_next);
  REQUIRE(second.kept.has_value());
  CHECK(second.kept->heap_next > kept.heap_next);

  // A third run that crashes in it: the region is removed as after any crash.
  AgentRequest crash = keep_request(fx, TTST_AGENT_TASK_NULL_DEREF, 0);
  crash.in_region = &*second.kept;
  crash.keep_region = true;
  AgentOutcome third = run_agent(fx.r->task(), crash, testing_agent());
  CHECK(third.kind == AgentOutcome::Kind::kCrashed);
  CHECK(!third.kept.has_value());
  CHECK(!mapped(fx.r->pid(), kept.start));
  fx.check_r_untouched();
}

TEST_CASE("cure_region removes a kept region") {
  Fixture fx;
  AgentRequest store = keep_request(fx, TTST_AGENT_TASK_KEEP_STORE, 0x11);
  store.keep_region = true;
  AgentOutcome first = run_agent(fx.r->task(), store, testing_agent());
  REQUIRE(first.kind == AgentOutcome::Kind::kFinished);
  REQUIRE(first.kept.has_value());
  CHECK(mapped(fx.r->pid(), first.kept->start));
  cure_region(fx.r->task(), *first.kept);
  CHECK(!mapped(fx.r->pid(), first.kept->start));
  fx.check_r_untouched();
  // A request that does not fit the kept slots is refused before anything runs.
  AgentRequest again = keep_request(fx, TTST_AGENT_TASK_EMPTY, 0);
  std::vector<uint8_t> big(first.kept->layout.output - first.kept->layout.input + 4096, 1);
  again.input = big;
  again.in_region = &*first.kept;
  CHECK_THROWS_AS(run_agent(fx.r->task(), again, testing_agent()), ttst::inject::InjectError);
  // So is another agent image than the one the region holds.
  AgentRequest other = keep_request(fx, TTST_AGENT_TASK_EMPTY, 0);
  other.in_region = &*first.kept;
  CHECK_THROWS_AS(run_agent(fx.r->task(), other, AgentImage::embedded()), ttst::inject::InjectError);
}
