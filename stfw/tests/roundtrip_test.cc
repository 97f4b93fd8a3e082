// roundtrip_test.cc — the state transfer on real processes: P (state_v1) → F
// (state_v2, forward transfer at its update point) → R (reversed clone of P,
// backward transfer); R must equal P byte for byte (//diff) and F's state, printed
// by v2 itself after the transfer, must be v1's state in v2's types. Then a table of
// refused states (v1 started in a mode that builds one): each invariant violation
// and refused ambiguity with its message, one SUBCASE per row.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "dwarfmeta/image.h"
#include "inject/memory.h"
#include "inject/tests/test_util.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/transfer_checks.h"
#include "stfw/tests/xfer_fixture.h"

using namespace ttst;
using namespace ttst::stfw::testing;

namespace {

std::string prog(const char* v) {
  return inject::testing::runfile(std::string("stfw/tests/programs/state/state_") + v);
}

// Runs the forward transfer with v1 started with `arg`; returns its outcome.
inject::AgentOutcome forward_with(RoundTrip& rt, const char* arg) {
  rt.v1 = prog("v1");
  rt.v2 = prog("v2");
  if (arg) rt.args = {arg};
  rt.start();
  return rt.forward();
}

}  // namespace

TEST_CASE("round trip: every kind of state, P == R byte for byte, F holds P's state in v2's types") {
  RoundTrip rt;
  inject::AgentOutcome fw = forward_with(rt, nullptr);
  require_transferred(fw);
  INFO(message(fw));
  CHECK(fw.detail[TTST_STFW_DETAIL_OBJECTS] > 30);
  CHECK(fw.detail[TTST_STFW_DETAIL_POINTERS] > 30);
  CHECK(fw.detail[TTST_STFW_DETAIL_TRANSFORMS] > 10);
  // v2's start-up strdup for heap_name is superseded and freed; its start-up point
  // stays (v2_spare still points to it).
  CHECK(message(fw).find(" startup_freed=1") != std::string::npos);
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  // Expected values: what v1 built (state.c, build()), seen through v2's types.
  CHECK(f.find("count>0:1 id:7 str:ab u:42 addr:1234 inner:11") == 0);
  CHECK(f.find(" list:40e0,30d0,20c0,10b0,0a0, ") != std::string::npos);  // reordered, pad dropped, added = 0
  CHECK(f.find(" ring:1,2,3,4, ") != std::string::npos);                 // prev/next consistent
  CHECK(f.find(" tree:20,30,40,50,60,70,80, ") != std::string::npos);    // int key widened to long
  CHECK(f.find(" hash:6/1530 ") != std::string::npos);                   // 1500 + 30 (strlen of the six keys)
  CHECK(f.find(" items:4,104,0 b:103 end:5 table:1003,0,1002") != std::string::npos);
  CHECK(f.find(" ops:9,5 h:add95,sub56") != std::string::npos);          // by name, prio kept from v2
  CHECK(f.find(" str:hello, world|a heap string statics:6") != std::string::npos);  // calls 2+1, counter 3
  CHECK(f.find(" points:0,0;0,0;1,1;2,4") != std::string::npos);          // void * slots typed by site
  CHECK(f.find(" col:0 fl:5,9,-3 small:-100 ratio:0.5 nest:-2x1y-10000000000 v2only:99 spare:9") != std::string::npos);
  // out_file = stderr: libc's object in F's own libc; a union and a uintptr_t holding
  // plain numbers are copied.
  CHECK(f.find(" lib:1 uslot:5 token:12345") != std::string::npos);
  // prog_name = argv[0], first_env into envp[0]: F's own twins of those strings.
  CHECK(f.find(" argv0:1 env0:1") != std::string::npos);
  CHECK(f.find(" tls:77,5,6 ") != std::string::npos);  // the main thread's thread-local globals
}

// A state the forward transfer must refuse: what v1 is started with to build it,
// and what the refusal says.
struct ForwardRefusal {
  const char* name;
  const char* v1_mode;  // state_v1's argument (NULL: the normal state)
  Refusal want;
  uint64_t agent_heap = 0;           // 0: the fixture's default
  const char* future_arg = nullptr;  // F's argv instead of P's
};

const ForwardRefusal kForwardRefusals[] = {
    {"invariant: a value that does not fit v2's narrower type names the object", "overflow",
     {TTST_STFW_STATUS_INVARIANT, "invariant: small = 30000 does not fit in signed char (v2's type)"}},
    {"invariant: a pointer whose target no longer exists in v2 names both ends", "dangling",
     {TTST_STFW_STATUS_INVARIANT, "invariant: var.inner_ptr points to ids+6, which does not exist in v2"}},
    {"invariant: a function pointer to a function v2 removed", "removedfn",
     {TTST_STFW_STATUS_INVARIANT, "invariant: ops[0] points to function op_mul, which v2 no longer has"}},
    {"invariant: a string literal v2 does not have", "strlit",
     {TTST_STFW_STATUS_INVARIANT,
      "invariant: greeting points to the string literal \"only in version 1\", which v2 does not have"}},
    {"invariant: an enumerator v2 no longer has", "enum",
     {TTST_STFW_STATUS_INVARIANT, "invariant: col = MAGENTA: enumerator not in v2's color"}},
    {"invariant: a double that a float cannot hold exactly", "precision",
     {TTST_STFW_STATUS_INVARIANT, "invariant: ratio loses precision as float (v2's type)"}},
    {"invariant: a pointer to an object a library allocated (not transferred)", "libobj",
     {TTST_STFW_STATUS_INVARIANT, nullptr, "invariant: out_file points to heap object #",
      {"+0, allocated inside a library: not transferred"},
      "add TTST_NO_TRANSFER(out_file); to the new version"}},
    {"ambiguous: an untyped object holding a pointer is refused, not guessed", "voidptr",
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: heap object #",
      {"has no type (reached only through void * or char *, site without a type) and its word at +8",
       "site main#",
       // issue 17's buffer tails: the refusal says how to type a char buffer whose tail holds stale bytes
       "(if it is a char buffer, a string whose unused tail holds stale bytes, type it as char"}}},
    {"ambiguous: an object reached through pointers of two struct types", "twotypes",
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, nullptr, {" is reached as ", "site new_point#0"}}},
    {"ambiguous: a pointer to the stack is refused by policy", "stackptr",
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: out_file = 0x",
      {"points outside the program's state (shared library, stack or freed memory): policy is to refuse"},
      "add TTST_IXFER(out_file); to the new version"}},
    {"ambiguous: a pointer into a library the new version does not map", "otherlib",
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: out_file = 0x",
      {" points into /", "libm.so.6, which this version does not map from the same file: policy is to refuse"},
      "add TTST_NO_TRANSFER(out_file); to the new version"}},
    {"ambiguous: a union whose pointer member holds a pointer", "unionptr",
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: uslot is a union whose member p = 0x",
      {" looks like a pointer: annotate the union TTST_PXFER (translate) or TTST_IXFER (copy as is)"},
      "add TTST_PXFER(uslot); to the new version"}},
    {"ambiguous: a uintptr_t holding a pointer", "intptr",
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: token = 0x",
      {" is a uintptr_t that looks like a pointer: annotate it TTST_PXFER (translate) or TTST_IXFER (copy as is)"},
      "add TTST_PXFER(token); to the new version (ttst.h; or ttst-cc's TTST_ANNOTATIONS=\"PXFER(token)\"), or add "
      "TTST_IXFER(token);"}},
    {"ambiguous: a heap object whose type v2 no longer has", "gone",
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: heap object #",
      {" (16 bytes, site main#", ") has type gone, which v2 does not have: needs transfer code"},
      "write fwd_struct_gone and bwd_struct_gone in a transfer plugin"}},
    {"no memory: an agent heap too small for the copy of the peer", nullptr,
     {TTST_STFW_STATUS_NO_MEMORY,
      "no memory: the agent's arena cannot hold a copy of the peer's writable memory"},
     256 << 10},
    {"invariant: a pointer to an argument the new version's process was not given", "argmode",
     {TTST_STFW_STATUS_INVARIANT,
      "invariant: prog_name points into the argument \"argmode\", which this version's process does not have"},
     0, "other"},
    // xmalloc's one site serves a struct tnode (typed through a global) and a struct
    // dnode held only in a void * slot: guessing tnode for the dnode would translate
    // its pointers by the wrong layout.
    {"ambiguous: an object behind void * from an allocation wrapper is not typed by the wrapper's other objects",
     "wrapper",
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: heap object #",
      {" (24 bytes, site xmalloc#0) has no type (reached only through void * or char *; its site serves several "
       "types: an allocation wrapper) and its word at +0 = 0x"}}},
    // P registered a pipe with data.ptr = a heap object, then closed that descriptor
    // number (a dup keeps the pipe, so the kernel keeps the registration): F cannot
    // register the same descriptor in its own instance.
    {"invariant: an epoll instance holding a pointer cannot be rebuilt in F (its descriptor was closed)",
     "epollstale",
     {TTST_STFW_STATUS_INVARIANT, nullptr, "invariant: the epoll instance on descriptor ",
      {" watches descriptor ",
       ", which is no longer the registered file (closed; the registration lives on through a dup): cannot "
       "rebuild it with translated data in the future version"}}},
};

TEST_CASE("forward refusals: every invariant violation and refused ambiguity, with its message") {
  for_each_case(kForwardRefusals, [](const ForwardRefusal& c) {
    RoundTrip rt;
    if (c.agent_heap) rt.heap_size = c.agent_heap;
    if (c.future_arg) rt.future_args = {c.future_arg};
    check_refusal(forward_with(rt, c.v1_mode), c.want);
  });
}

TEST_CASE("invariant: backward, a pointer to an object new in v2 (no counterpart in v1)") {
  // After the forward transfer F's `origin` is re-aimed, as v2 code or a buggy
  // transfer could, at v2's own start-up point (v2_spare): an object P never had.
  RoundTrip rt;
  inject::AgentOutcome fw = forward_with(rt, nullptr);
  REQUIRE(fw.status == TTST_STFW_STATUS_OK);
  dwarfmeta::image::View v2;
  const char* why = nullptr;
  REQUIRE(dwarfmeta::image::View::open(rt.img2.data(), rt.img2.size(), &v2, &why));
  uint64_t fb = ttst::stfw::testing::exe_bias(rt.f->pid());
  std::vector<uint8_t> spare = inject::read_memory(rt.f->pid(), v2.global("v2_spare")->addr + fb, 8);
  inject::write_memory(rt.f->pid(), v2.global("origin")->addr + fb, spare);
  inject::AgentOutcome bw = rt.backward();
  REQUIRE(bw.kind == inject::AgentOutcome::Kind::kFinished);
  CHECK(bw.status == TTST_STFW_STATUS_INVARIANT);
  std::string m = message(bw);
  CHECK(m.find("invariant: origin points to heap object #") == 0);
  CHECK(m.find(" (8 bytes, site new_point#0)+0, which does not exist in v1") != std::string::npos);
}
