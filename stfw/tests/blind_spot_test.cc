// blind_spot_test.cc — two former blind spots of the automatic transfer, on real
// processes (stfw/tests/programs/blind): a global array that shrinks
// (branches[4] -> branches[3]) under a pointer to its dropped element is refused
// naming both ends, while a true one-past-the-end pointer stays one past the end;
// a struct member renamed (account.next -> nxt) is refused as a suspected rename
// unless TTST_RENAMED_FROM (lists intact) says which; a genuine drop (balance -> credit)
// likewise unless TTST_DROPPED. records.c: records reached only through void *
// whose struct is reordered or widened are typed by their site (the local the
// result of malloc goes to) and transformed; one that stays untyped is refused
// naming its site and type; at -O2 (records.c, buffers.c) a site is typed only by a
// receiver the machine code proves, and a byte buffer beside an unrelated struct
// pointer is refused or copied exactly, never transformed as that struct. table.c: a hash table's bucket count changed (a global
// array of pointers, or a start-up heap array) is refused. bounds.c: an end
// pointer that is also the start of the next global or member stays an end pointer.
// Each case fails with the engine of the previous main (committed garbled state).
#include <doctest/doctest.h>

#include <string>

#include "inject/tests/test_util.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/transfer_checks.h"
#include "stfw/tests/xfer_fixture.h"

using namespace ttst;
using namespace ttst::stfw::testing;

namespace {

inject::AgentOutcome forward_to(RoundTrip& rt, const std::string& v2, const char* v1_arg = nullptr,
                                const std::string& v1 = "blind_v1") {
  rt.v1 = inject::testing::runfile("stfw/tests/programs/blind/" + v1);
  rt.v2 = inject::testing::runfile("stfw/tests/programs/blind/" + v2);
  if (v1_arg) rt.args = {v1_arg};
  rt.start();
  return rt.forward();
}

// A transfer that must succeed, R == P, and what v2 prints from the state it got.
void check_transferred(const std::string& v2, const char* v1_arg, const char* want,
                       const std::string& v1 = "blind_v1") {
  RoundTrip rt;
  inject::AgentOutcome fw = forward_to(rt, v2, v1_arg, v1);
  require_transferred(fw);
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  CHECK(f.find(want) == 0);
}

}  // namespace

TEST_CASE("array shrunk: a pointer to the element v2 no longer has is refused, naming both ends") {
  RoundTrip rt;
  // &branches[3] in v1 (sizeof(struct branch) == 16) is no "one past the end" of v2's branches[3].
  check_refusal(forward_to(rt, "blind_v2_shrink", "dropped"),
                {TTST_STFW_STATUS_INVARIANT, "invariant: cur points to branches+48, which does not exist in v2"});
}

TEST_CASE("array shrunk: a pointer one past the end in v1 is one past the end in v2, and back") {
  check_transferred("blind_v2_shrink", nullptr, "accounts:100 counted:100 end:3 money:49500");
}

TEST_CASE("member renamed without an annotation: refused as a suspected rename, naming struct and members") {
  RoundTrip rt;
  check_refusal(forward_to(rt, "blind_v2_rename"),
                {TTST_STFW_STATUS_AMBIGUOUS,
                 "ambiguous: struct account drops member next and adds nxt of the same type (struct account *): a "
                 "suspected rename; say which with TTST_RENAMED_FROM(struct account.nxt, next) or "
                 "TTST_DROPPED(struct account.next)",
                 nullptr,
                 {},
                 // the advised line: what blind_v2_renamed_from holds (the next case commits with it)
                 "add TTST_RENAMED_FROM(struct account.nxt, next); to the new version"});
}

TEST_CASE("member renamed with TTST_RENAMED_FROM: the lists stay whole") {
  check_transferred("blind_v2_renamed_from", nullptr, "accounts:100 counted:100 end:4 money:49500");
}

TEST_CASE("member dropped while one of its type is added: refused without TTST_DROPPED, a drop with it") {
  {
    RoundTrip rt;
    check_refusal(forward_to(rt, "blind_v2_drop"),
                  {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: struct account drops member balance and adds credit "});
  }
  // With TTST_DROPPED(struct account.balance): the new credit starts at 0, balance
  // vanishes from F and comes back unchanged in R (R == P).
  check_transferred("blind_v2_dropped", nullptr, "accounts:100 counted:100 end:4 money:0");
}

TEST_CASE("struct reordered behind void *: the record is typed by its site's local and transformed, names intact") {
  check_transferred("records_v2_reorder", nullptr, "recs:40 names:40 ids:780 scores:1560", "records_v1");
}

TEST_CASE("member widened int -> long behind void *: typed by its site and transformed") {
  check_transferred("records_v2_widen", nullptr, "recs:40 names:40 ids:780 scores:1560", "records_v1");
}

TEST_CASE("an untyped record (no whole number of structs) whose site allocates a reordered struct: refused, naming "
          "site and type") {
  {
    RoundTrip rt;
    check_refusal(forward_to(rt, "records_v2_extra_reorder", nullptr, "records_v1_extra"),
                  {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: heap object #",
                   {" (24 bytes, site records.c::make_record#0) has no type (reached only through void * or char *) "
                    "and would be copied as bytes, but its site allocates rec in v2, whose layout differs (20 -> 20 "
                    "bytes or members moved): its bytes would be reinterpreted; needs transfer code"}});
  }
  // The same layout in v2: copied as bytes, as before.
  check_transferred("records_v2_extra_same", nullptr, "recs:40 names:40 ids:780 scores:1560", "records_v1_extra");
}

// -O2 builds (issue 14): make_record is inlined into main and its local `r` lives
// in registers; dwarfmeta's site hints (dwarfmeta/site_hints.h) prove it receives
// malloc's result (the code moves it from rax to rbx, where DWARF places r).
TEST_CASE("-O2: struct reordered behind void *: typed by the proven receiver and transformed, names intact") {
  check_transferred("records_v2_o2_reorder", nullptr, "recs:40 names:40 ids:780 scores:1560", "records_v1_o2");
}

TEST_CASE("-O2: member widened int -> long behind void *: typed by the proven receiver and transformed") {
  check_transferred("records_v2_o2_widen", nullptr, "recs:40 names:40 ids:780 scores:1560", "records_v1_o2");
}

TEST_CASE("-O2: the same layout behind void * still commits") {
  check_transferred("records_v2_o2_same", nullptr, "recs:40 names:40 ids:780 scores:1560", "records_v1_o2");
}

TEST_CASE("-O2: a second struct pointer in scope, no whole fraction of the record: the proven type, transformed") {
  check_transferred("records_v2_o2_note7_widen", nullptr, "recs:40 names:40 ids:780 scores:1560",
                    "records_v1_o2_note7");
}

TEST_CASE("-O2: two candidate structs that both fit, one reordered: refused naming site, candidates and the fix") {
  {
    RoundTrip rt;
    check_refusal(forward_to(rt, "records_v2_o2_note4_reorder", nullptr, "records_v1_o2_note4"),
                  {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: heap object #",
                   {" (20 bytes, site main#0) has no type (reached only through void * or char *) and would be copied "
                    "as bytes, but its site's code (optimised) may hold it as any of rec *, note *, and rec's layout "
                    "differs in v2 (20 -> 20 bytes or members moved): its bytes might be reinterpreted",
                    "fix: add TTST_POINTS_TO(struct slot.data, struct rec);"}});
  }
  // Neither candidate changes layout: copied as bytes, as before.
  check_transferred("records_v2_o2_note4_same", nullptr, "recs:40 names:40 ids:780 scores:1560",
                    "records_v1_o2_note4");
}

TEST_CASE("-O2: the result goes to a void * first, then the struct pointer: proven by it, transformed") {
  // On the engine before site_receiver.h: refused as uncertain (a void * in scope).
  check_transferred("records_v2_o2_bytes_reorder", nullptr, "recs:40 names:40 ids:780 scores:1560",
                    "records_v1_o2_bytes");
  check_transferred("records_v2_o2_bytes_same", nullptr, "recs:40 names:40 ids:780 scores:1560",
                    "records_v1_o2_bytes");
}

// buffers.c at -O2: `c->buf = malloc(24)` goes into a void * member, and an
// unrelated `struct foo *f` (24 bytes) is assigned later in the same block. The
// previous main typed the buffer as foo (the one struct pointer in scope that
// fits) and, foo reordered, transformed it: committed with every buffer garbled
// ("bufs:0"), the backward run inverting the same transform. foo is a suspect only.
TEST_CASE("-O2: a byte buffer beside an unrelated struct pointer whose struct is reordered: refused, not transformed") {
  RoundTrip rt;
  check_refusal(forward_to(rt, "buffers_v2_o2_reorder", nullptr, "buffers_v1_o2"),
                {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: heap object #",
                 {" (24 bytes, site buffers.c::open_conn#0) has no type (reached only through void * or char *) "
                  "and would be copied as bytes, but its site's code (optimised) may hold it as any of foo *",
                  "and foo's layout differs in v2 (24 -> 24 bytes or members moved)"}});
}

TEST_CASE("-O2: the byte buffer beside an unchanged struct pointer is copied as bytes, exactly") {
  check_transferred("buffers_v2_o2_same", nullptr, "bufs:8 foos:8", "buffers_v1_o2");
}

TEST_CASE("hash table: a global array of bucket pointers that grows is refused, saying why") {
  RoundTrip rt;
  check_refusal(forward_to(rt, "table_v2_global_grown", nullptr, "table_v1"),
                {TTST_STFW_STATUS_AMBIGUOUS,
                 "ambiguous: table is an array of 8 pointers that has 16 in v2: where an element belongs may depend "
                 "on the length (a hash table's buckets), which the metadata does not say: needs transfer code",
                 nullptr,
                 {},
                 "add TTST_NO_TRANSFER(table); to the new version"});  // the next case's annotation
}

TEST_CASE("hash table: the resized global annotated TTST_NO_TRANSFER is v2's own (empty), not refused") {
  check_transferred("table_v2_global_grown_kept", nullptr, "table:0 heap_table:100", "table_v1");
}

TEST_CASE("hash table: start-up buckets of another count replaced by P's are refused, saying why") {
  RoundTrip rt;
  check_refusal(forward_to(rt, "table_v2_heap_grown", nullptr, "table_v1"),
                {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: heap_table points to heap object #",
                 {" (64 bytes, site table.c::init_table#0), an array of 8 pointers, which replaces v2's start-up "
                  "object of the same site, an array of 16: v2's start-up chose another length"}});
}

TEST_CASE("hash table: the same bucket counts transfer, every key found") {
  check_transferred("table_v2_same", nullptr, "table:100 heap_table:100", "table_v1");
}

TEST_CASE("end pointers at a boundary stay end pointers when v2 puts something between; a start stays a start") {
  check_transferred("bounds_v2", nullptr, "pairs_end:48 text_end:8 tail:7", "bounds_v1");
}
