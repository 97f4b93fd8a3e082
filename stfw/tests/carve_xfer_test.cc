// carve_xfer_test.cc — carved containers on real processes (stfw/tests/programs/carve,
// built -O2): slab pages of items with a flexible tail (TTST_SLAB_N in the source) and
// pool blocks (ttst-cc's TTST_ANNOTATIONS: by their holders, or by type), and the
// blocks of a zmalloc-style header wrapper (HEADER_WRAPPER: the object after the header). P -> F -> R gives R == P byte for byte;
// every item and node is a typed sub-object (counted: carved=), the free chunks and
// page tails are free memory; in F the items, the hash chains, the LRU lists, a
// pointer into an item's value and the pool's nodes and strings are all there, and
// v2 allocates new items from the transferred free-slot list and page tails without
// overwriting a live one; an item reached only by `void *` (a conn halfway
// through a set) is carved as an item by POINTS_TO, its bytes kept; its iovec
// entries past iovused point into a freed buffer (USED_N: not state, zeroed in F,
// R keeps P's); its wcurr points into that freed buffer: dead, carried as it is
// (counted dead_pointers=; the backward gives it back, R == P). Stale bytes in unused entries (slab_list past its count,
// slots past sl_curr) declare and refuse nothing. Then the refusals: item grew a
// field in v2 (cannot stay at its offset: needs transfer code, naming the type);
// a pointer in pool bytes that no typed pointer reaches; a pointer into a slab
// page's free bytes not declared free (TTST_FREE_SLOTS); a free client's stale
// pointer when the free list is not declared (TTST_FREE_LIST). A client table
// with a free list (FREE_LIST) keeps its links and instance bits in F, and a free
// entry is reused there. An object cache (memcached 1.6's cache_t) whose free objects,
// larger than their link struct, keep stale words: free as a whole (FREE_LIST).
#include <doctest/doctest.h>

#include <string>

#include "inject/tests/test_util.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/transfer_checks.h"
#include "stfw/tests/xfer_fixture.h"

using namespace ttst;
using namespace ttst::stfw::testing;

namespace {

std::string prog(const std::string& name) { return inject::testing::runfile("stfw/tests/programs/carve/" + name); }

// The figure `name=` of an agent's output line, or -1.
long figure(const std::string& line, const std::string& name) {
  size_t at = line.find(" " + name + "=");
  return at == std::string::npos ? -1 : std::stol(line.substr(at + name.size() + 2));
}

}  // namespace

// `extra`: the cycle variant's second pool block (a container) and its two
// sub-objects (the pool header, the cycle; the embedded log is part of the cycle).
void check_carved_round_trip(const std::string& v1, const std::string& v2, int extra = 0) {
  RoundTrip rt;
  rt.v1 = prog(v1);
  rt.v2 = prog(v2);
  rt.start();
  inject::AgentOutcome fw = rt.forward();
  require_transferred(fw);
  std::string figures = message(fw);
  INFO(figures);
  // 72 items + the binary one + the pending one (POINTS_TO); 2 pool headers + 30
  // nodes; 5 sessions after zmalloc's header; a client's 2 blocks (a header and
  // a node each; the free client's stale pointers carve nothing: FREE_LIST) and
  // the 3 spares of a global free list in the first of them (typed by the list).
  CHECK(figure(figures, "carved") == 74 + 32 + 5 + 4 + 3 + 2 * extra);
  // 4 slab pages (1 + 2 + 1 per class) + 2 pool blocks + 5 session blocks: never
  // the hash table that stale entries past slabclass_t.slabs in slab_list point to
  // (TTST_SLAB_N's count), nor the zmalloc'd strings (reached by char *: untyped)
  CHECK(figure(figures, "containers") == 6 + 5 + 2 + extra);
  CHECK(figure(figures, "container_free_bytes") > 0);
  CHECK(figure(figures, "untyped_copied") == 5);  // the session names
  CHECK(figure(figures, "dead_pointers") == 1);   // conn.wcurr, into the freed reply buffer
  // The items (72 + the binary + the pending one) are typed and written by their
  // compiled plan (`void *end[0]` holds nothing to walk; carved_by_plan): walked
  // member by member they would add 2 x 74 to what the rest takes (the conn with
  // its USED_N iovecs, the clients' bitfields, the pools' headers...).
  CHECK(figure(figures, "walked") <= 151 + 4 * extra);
  check_backward_restores_past(rt);
  std::string f = rt.release_future();
  INFO(f);
  CHECK(f == std::string("items:72/72 binary:1 cursor:1 pending:1 iov:1 dead:1 nodes:30 sum:8555 labels:30 "
                         "sessions:5 after_new:18,60 clients:1,1,1,1") +
                 (extra ? " cycle:1" : ""));
}

TEST_CASE("carved containers: slab items and pool nodes are typed sub-objects, R == P, F serves them") {
  check_carved_round_trip("carve_v1", "carve_v2");
}

TEST_CASE("carved containers declared by type (every pool block a pool_t * points to): the same") {
  check_carved_round_trip("carve_v1_bytype", "carve_v2_bytype");
}

// nginx's cycle: a pool whose first block holds the struct that points to the pool
// (the block is a container by type only through it, and the global points past the
// block's header: an interior pointer), and a pointer to one of its members.
TEST_CASE("carved containers: a struct in its own pool's first block, reached past the header, is carved") {
  check_carved_round_trip("carve_v1_cycle", "carve_v2_cycle", 1);
}

// A free client keeps a pointer into its freed buffer, unmapped since (nginx's free
// connections keep theirs): a value in no mapping, where a live client's same member
// holds a live pointer. Free-list elements are no evidence that the member holds
// integers (a mixed member, engine_values.cc): without that, the live client's
// buffer pointer was refused as "holds integers in other objects". (The stale
// value is carried as it is: counted unmapped_words=, not dead_pointers=.)
TEST_CASE("carved containers: a free element's stale pointer into unmapped memory does not make its member mixed") {
  check_carved_round_trip("carve_v1_stale", "carve_v2_stale");
}

// A v1 / v2 pair the forward transfer must refuse, and what the refusal says.
struct CarveRefusal {
  const char* name;
  const char* v1;
  const char* v2;
  Refusal want;
};

const CarveRefusal kCarveRefusals[] = {
    {"item grew a field in v2, so it cannot stay at its offset", "carve_v1", "carve_v2_cas",
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: _stritem at +",
      {"has type _stritem, whose layout differs in v2 (32 -> 40 bytes",
       "a sub-object carved in a container stays at its offset, so this needs transfer code"},
      "write fwd_struct__stritem and bwd_struct__stritem in a transfer plugin"}},
    {"pool bytes no typed pointer reaches hold a pointer: never copied blind", "carve_v1_tail", "carve_v2",
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: pool_s at +0 of heap object #",  // a third block: its header
      {"is followed by 480 bytes of its container that no typed pointer reaches, and the word at +",
       "looks like a pointer: refusing to guess"},
      "write fwd_"}},
    {"a pointer into a slab page's free bytes, not declared free (TTST_FREE_SLOTS)", "carve_v1_nofree",
     "carve_v2_nofree",
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: carve.c::slabclass[",
      {".end_page_ptr = 0x", " of heap object #",
       "bytes of that container no typed pointer carves (free memory, not transferred): declare what it points to "
       "(TTST_POINTS_TO) or that it points to free memory (TTST_FREE_SLOTS, TTST_FREE_LIST)"}}},
    {"a free client's stale pointer, its list not declared (TTST_FREE_LIST), carves where a label lives",
     "carve_v1_nolist", "carve_v2_nolist",
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: node at +40 of heap object #",
      {"is larger than its room in the container (8 bytes to the next sub-object or the end)"},
      "write fwd_struct_node and bwd_struct_node in a transfer plugin"}},
};

TEST_CASE("carved containers refused: a sub-object type that changed layout, pointers in uncarved bytes") {
  for_each_case(kCarveRefusals, [](const CarveRefusal& c) {
    RoundTrip rt;
    rt.v1 = prog(c.v1);
    rt.v2 = prog(c.v2);
    rt.start();
    check_refusal(rt.forward(), c.want);
  });
}

// nginx's pool blocks (stfw/tests/programs/pooldata): later blocks hold only the
// header's first member (pool_data_t d), reached through d.next and current, which
// are pool_t * in the type; POINTS_TO names pool_data_t, which the program never
// spells a pointer to. The first block is reached both as pool_t * and through
// current: one sub-object of the larger type. v2 then allocates through current.
TEST_CASE("pool blocks whose later blocks hold only the header's first member (POINTS_TO a type without a pointer type)") {
  auto pooldata = [](const std::string& name) {
    return inject::testing::runfile("stfw/tests/programs/pooldata/" + name);
  };
  SUBCASE("declared: every node carved, R == P, v2 allocates through current") {
    RoundTrip rt;
    rt.v1 = pooldata("pooldata_v1");
    rt.v2 = pooldata("pooldata_v2");
    rt.start();
    inject::AgentOutcome fw = rt.forward();
    require_transferred(fw);
    std::string figures = message(fw);
    INFO(figures);
    CHECK(figure(figures, "carved") == 20 + 3);  // the nodes, the first block's pool_t, 2 later pool_data_t
    check_backward_restores_past(rt);
    std::string f = rt.release_future();
    INFO(f);
    CHECK(f.find("nodes:22 sum:490 head:v2b last:n19 blocks:") == 0);
    CHECK(f.find(" tag:pool") != std::string::npos);
  }
  SUBCASE("without POINTS_TO a whole pool_t is carved over the next sub-object: refused") {
    RoundTrip rt;
    rt.v1 = pooldata("pooldata_v1_whole");
    rt.v2 = pooldata("pooldata_v2_whole");
    rt.start();
    check_refusal(rt.forward(), {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: pool_s at +0 of heap object #",
                                 {"is larger than its room in the container (32 bytes to the next sub-object"}});
  }
}

// Pools found one typing pass at a time (stfw/tests/programs/poolchain): each level's
// object lies in its own pool's block, reached by an interior pointer from the level
// above; the next pass carves it and finds the next. 20 levels (more than the old
// bound of 6 passes) are transferred whole; 70, past the bound of 64 passes, are
// refused naming the last pool declared and the way to it.
TEST_CASE("a chain of pools found one typing pass each: transferred, or refused by name past the bound") {
  auto chain = [](const std::string& name) { return inject::testing::runfile("stfw/tests/programs/poolchain/" + name); };
  SUBCASE("20 levels: every level carved, R == P") {
    RoundTrip rt;
    rt.v1 = chain("poolchain_v1");
    rt.v2 = chain("poolchain_v2");
    rt.start();
    inject::AgentOutcome fw = rt.forward();
    require_transferred(fw);
    std::string figures = message(fw);
    INFO(figures);
    CHECK(figure(figures, "containers") == 20);
    CHECK(figure(figures, "carved") == 40);  // each pool's header and its level
    check_backward_restores_past(rt);
    std::string f = rt.release_future();
    INFO(f);
    CHECK(f.find("levels:20 sum:190 own:20 last:level19 holder:1 same_pool:1") == 0);
  }
  SUBCASE("70 levels: refused, naming the last pool declared") {
    RoundTrip rt;
    rt.v1 = chain("poolchain_v1_deep");
    rt.v2 = chain("poolchain_v2");
    rt.start();
    check_refusal(rt.forward(), {TTST_STFW_STATUS_AMBIGUOUS, nullptr,
                                 "ambiguous: containers declared inside containers (or free lists found in them) more than 64",
                                 {"; the last declared: heap object #", "poolchain.c",
                                  "(reached, more than 24 hops from a root, as level at +32 of heap object #",
                                  "->next->next->next)",
                                  "a chain of containers one per typing pass"}});
  }
}

// memcached 1.6's object caches (stfw/tests/programs/cachepool): a free list linked
// through the objects' first 8 bytes, each free object 64 bytes with stale words (an
// integer in no mapping at +8, a pointer to a live object at +16). Declared, each
// free object is free as a whole: its later words are not list elements (they would
// type the live object they point to as one) nor evidence that the link holds
// integers. A shelf of spares held by a `void *` (POINTS_TO + FREE_LIST, as
// memcached 1.6's slabclass_t.slots) keeps a dangling pointer in each: carried dead.
// v2 then takes an object from the transferred list.
TEST_CASE("an object cache whose free objects are larger than their link: free as a whole") {
  auto pool = [](const std::string& name) { return inject::testing::runfile("stfw/tests/programs/cachepool/" + name); };
  SUBCASE("declared: transferred, R == P, v2 allocates from the list") {
    RoundTrip rt;
    rt.v1 = pool("cachepool_v1");
    rt.v2 = pool("cachepool_v2");
    rt.start();
    require_transferred(rt.forward());
    check_backward_restores_past(rt);
    std::string f = rt.release_future();
    INFO(f);
    CHECK(f.find("live:b0,b2,b4,b6 sum:120 linked:4 free:4 reused:1 left:3 counter:7 shelf:2,s1,s0") == 0);
  }
  SUBCASE("without FREE_LIST the stale words type a live object as a free one: refused") {
    RoundTrip rt;
    rt.v1 = pool("cachepool_v1_nolist");
    rt.v2 = pool("cachepool_v2_nolist");
    rt.start();
    check_refusal(rt.forward(), {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: heap object #",
                                 {" is reached as "}});
  }
}

// Text in pool blocks (stfw/tests/programs/textrun): nginx's `addr_text`, a {len,
// data} string allocated unaligned and without a NUL from a connection's pool, the
// block's stale bytes after it holding a word that still looks like a pointer. A
// char pointer's length sibling (USED_N) says which bytes are text, so the word
// that holds the text's last byte is no pointer (text carves nothing: it stays in
// the log's tail). A second string into the same text and a string into a
// struct's bytes change nothing. Without the length the stale word may be a
// pointer: refused, and the refusal names the text and says what is missing.
TEST_CASE("text in pool blocks reached by char pointers: known text by its length (USED_N) is no pointer") {
  auto textrun = [](const std::string& name) { return inject::testing::runfile("stfw/tests/programs/textrun/" + name); };
  SUBCASE("length declared: the text and its neighbours transferred, R == P") {
    RoundTrip rt;
    rt.v1 = textrun("textrun_v1");
    rt.v2 = textrun("textrun_v2");
    rt.start();
    inject::AgentOutcome fw = rt.forward();
    require_transferred(fw);
    std::string figures = message(fw);
    INFO(figures);
    CHECK(figure(figures, "containers") == 2);
    CHECK(figure(figures, "carved") == 2 * 3);  // per block: the header, the log, the peer (text carves nothing)
    check_backward_restores_past(rt);
    std::string f = rt.release_future();
    INFO(f);
    CHECK(f.find("text0:127.0.0.1 text1:10.0.0.22 host1:0.0.22 ports:51000,52000 logs:conn0,conn1 same_log:1 "
                 "cursor:nn0 reused:r") == 0);
  }
  SUBCASE("length not declared: the stale word may be a pointer, refused naming what is missing") {
    RoundTrip rt;
    rt.v1 = textrun("textrun_v1_nolen");
    rt.v2 = textrun("textrun_v2_nolen");
    rt.start();
    check_refusal(rt.forward(), {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: log at +32 of heap object #",
                                 {"is followed by 16 bytes of its container that no typed pointer reaches, and the "
                                  "word at +32 = 0x",
                                  "looks like a pointer: refusing to guess; a char pointer reaches text at +56 of "
                                  "that container, of unknown length: if the word is the text's stale neighbour, "
                                  "declare the length with TTST_USED_N(struct.member, length_member) on the pointer "
                                  "member"}});
  }
}

// A pool block's unused part (stfw/tests/programs/textrun, -DSTALE_FREE): the bytes
// from `last` to `end` hold stale bytes of the block's previous use. Declared free
// (FREE_UPTO(pool_t.last, end)) they are free memory: not copied (zero in F), and
// v2 allocates from them through the transferred `last`; undeclared they are the
// last sub-object's tail, and the stale word is refused.
TEST_CASE("a pool block's unused part declared free (FREE_UPTO): not state, v2 allocates from it") {
  auto textrun = [](const std::string& name) { return inject::testing::runfile("stfw/tests/programs/textrun/" + name); };
  SUBCASE("declared: transferred, the stale word not copied, R == P") {
    RoundTrip rt;
    rt.v1 = textrun("textrun_v1_free");
    rt.v2 = textrun("textrun_v2_free");
    rt.start();
    inject::AgentOutcome fw = rt.forward();
    require_transferred(fw);
    std::string figures = message(fw);
    INFO(figures);
    CHECK(figure(figures, "carved") == 2 * 3);
    CHECK(figure(figures, "container_free_bytes") >= 2 * (256 - 88));  // each block from `last` on
    check_backward_restores_past(rt);
    std::string f = rt.release_future();
    INFO(f);
    CHECK(f.find("text0:127.0.0.1 text1:10.0.0.22 host1:0.0.22 ports:51000,52000") == 0);
    CHECK(f.find(" free_word:0 more:53000") != std::string::npos);
  }
  SUBCASE("not declared: the stale word is the last sub-object's tail: refused") {
    RoundTrip rt;
    rt.v1 = textrun("textrun_v1_stale");
    rt.v2 = textrun("textrun_v2");  // either version's FREE_UPTO would declare it
    rt.start();
    check_refusal(rt.forward(), {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: peer at +72 of heap object #",
                                 {"is followed by 168 bytes of its container that no typed pointer reaches, and the "
                                  "word at +128 = 0x"}});
  }
}

// memcached 1.6's chunked items (stfw/tests/programs/chunked): a header item whose
// data bytes hold an `item_chunk` at an offset computed from its flags and key
// length, leading to chunk items in pages of a larger class. Declared (TTST_EMBEDDED)
// the embedded struct is carved: the chunks are carved and typed item_chunk, every
// pointer translated, R == P, and v2 reads every value through the chunks. Not
// declared, the embedded `next` is a data word pointing at a chunk that no typed
// pointer reaches: refused (before, committed, v2 then read P's addresses).
TEST_CASE("a struct inside an item's data bytes (TTST_EMBEDDED): chunked items carried with their chunks") {
  auto chunked = [](const std::string& name) { return inject::testing::runfile("stfw/tests/programs/chunked/" + name); };
  SUBCASE("declared: the chunks carved and translated, R == P, v2 reads every value") {
    RoundTrip rt;
    rt.v1 = chunked("chunked_v1");
    rt.v2 = chunked("chunked_v2");
    rt.start();
    inject::AgentOutcome fw = rt.forward();
    require_transferred(fw);
    std::string figures = message(fw);
    INFO(figures);
    // 3 headers, 3 embedded chunks, 5 + 3 + 6 chunks
    CHECK(figure(figures, "carved") == 3 + 3 + 5 + 3 + 6);
    check_backward_restores_past(rt);
    std::string f = rt.release_future();
    INFO(f);
    CHECK(f.find("gamma=lorem ipsum dolor sit amet chunks:6 heads:1 links:1;be=0123456789abcdefghij chunks:3 heads:1 "
                 "links:1;alpha=the quick brown fox jumps over the lazy dog chunks:5 heads:1 links:1; served:3") == 0);
  }
  SUBCASE("not declared: a data word points at a chunk nothing typed reaches: refused") {
    RoundTrip rt;
    rt.v1 = chunked("chunked_v1_noembed");
    rt.v2 = chunked("chunked_v2_noembed");
    rt.start();
    check_refusal(rt.forward(), {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: ",
                                 {"holds in its data bytes, at +", "the start of a chunk of its container", "TTST_EMBEDDED"}});
  }
  SUBCASE("a char array keeps the address of a block nothing typed reaches: refused") {
    RoundTrip rt;
    rt.v1 = chunked("chunked_v1_note");
    rt.v2 = chunked("chunked_v2_note");
    rt.start();
    check_refusal(rt.forward(), {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: ",
                                 {".text, a char array, holds at +8 the word 0x",
                                  "exactly the start of an untyped object that no typed pointer reaches, heap object #"}});
  }
}
