// precopy_facts_test — which differences in P's kernel-side facts between the
// snapshot and the second stop decide "changed" (precopy_delta.h facts_changed):
// strictly, every register but the syscall bookkeeping; for stage 2, which settles
// the frames' locals again, only rip, rsp and the segment state besides the
// descriptors and the process's signal state.
#include <doctest/doctest.h>

#include <sys/user.h>

#include "supervisor/precopy_delta.h"

using ttst::supervisor::facts_changed;
using ttst::supervisor::PastFacts;

namespace {

// P blocked in a system call at a stop, with a descriptor and its signal state.
PastFacts stopped() {
  PastFacts f;
  f.regs.rip = 0x401000, f.regs.rsp = 0x7ffd0000, f.regs.rbp = 0x7ffd0100, f.regs.r15 = 7;
  f.regs.orig_rax = 232, f.regs.fs_base = 0x7f0000001000;
  f.fds = {{3, "socket:[1] pos: 0"}};
  f.process = "SigBlk: 0";
  return f;
}

}  // namespace

TEST_CASE("a register holding a local differs: changed strictly, followed by stage 2") {
  PastFacts then = stopped(), now = stopped();
  now.regs.r15 = 8;
  now.regs.rbp = 0x7ffd0200;
  CHECK(facts_changed(then, now) == "register r15 changed (0x7 -> 0x8)");
  CHECK(facts_changed(then, now, true).empty());
}

TEST_CASE("the pc, the stack pointer or the thread pointer differ: changed either way") {
  for (int which = 0; which < 3; ++which) {
    CAPTURE(which);
    PastFacts then = stopped(), now = stopped();
    if (which == 0) now.regs.rip += 4;
    if (which == 1) now.regs.rsp -= 16;
    if (which == 2) now.regs.fs_base += 4096;
    CHECK(!facts_changed(then, now).empty());
    CHECK(!facts_changed(then, now, true).empty());
  }
}

TEST_CASE("a descriptor opened or the signal state changed: changed either way") {
  PastFacts then = stopped(), now = stopped();
  now.fds.push_back({4, "socket:[2] pos: 0"});
  CHECK(facts_changed(then, now, true) == "descriptor 4 was opened");
  now = stopped();
  now.process = "SigBlk: 1";
  CHECK(facts_changed(then, now, true) == "the signal mask or dispositions, umask, cwd or root changed");
}

TEST_CASE("the kernel's syscall bookkeeping is no change") {
  PastFacts then = stopped(), now = stopped();
  now.regs.rax = static_cast<unsigned long long>(-4), now.regs.rcx = 1, now.regs.r11 = 0x246, now.regs.orig_rax = 219;
  CHECK(facts_changed(then, now).empty());
}

TEST_CASE("blocked in a call rewound to run again, then at that call's entry: the same place") {
  // The snapshot's P, interrupted in epoll_wait (EINTR: rewound, rax back to the
  // call's number, rip at the `syscall`); the second stop's, driven to the entry of
  // that call (rax -ENOSYS, rip past the `syscall`).
  PastFacts then = stopped(), now = stopped();
  then.regs.rax = 232, then.regs.rip = 0x401000 - 2;
  now.regs.rax = static_cast<unsigned long long>(-38);
  CHECK(ttst::supervisor::syscall_return_pc(then.regs) == 0x401000);
  CHECK(ttst::supervisor::syscall_return_pc(now.regs) == 0x401000);
  CHECK(facts_changed(then, now).empty());
  CHECK(facts_changed(then, now, true).empty());
  now.regs.rip += 16;  // another call's entry
  CHECK(facts_changed(then, now, true) == "register rip changed (0x400ffe -> 0x401010)");
  now = stopped();
  now.regs.orig_rax = ~0ull, now.regs.rip = 0x401000;  // no system call: rip as it is
  CHECK(!facts_changed(then, now, true).empty());
}
