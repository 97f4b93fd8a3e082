// alloc_sites_test — allocation sites found with Capstone, checked against an
// independent oracle (objdump's disassembly) in PIE, non-PIE and -fno-plt builds
// from gcc and clang.
#include <doctest/doctest.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>

#include "dwarfmeta/load.h"

using namespace ttst::dwarfmeta;

namespace {

const std::string P = "dwarfmeta/tests/programs/";

// return address -> callee, for every call objdump shows to one of `names`.
std::map<uint64_t, std::string> objdump_calls(const std::string& path, const std::set<std::string>& names) {
  std::map<uint64_t, std::string> out;
  std::string cmd = "objdump -d --no-show-raw-insn " + path;
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  char line[1024];
  std::string pending;  // callee of the previous instruction when it was a call
  while (fgets(line, sizeof line, f)) {
    // "  401136:\tcall   401030 <malloc@plt>"
    std::string l = line;
    size_t colon = l.find(":\t");
    if (colon == std::string::npos) continue;
    std::string addr_text = l.substr(0, colon);
    size_t start = addr_text.find_first_not_of(' ');
    if (start == std::string::npos || addr_text.find_first_not_of("0123456789abcdef", start) != std::string::npos)
      continue;
    uint64_t addr = std::stoull(addr_text.substr(start), nullptr, 16);
    if (!pending.empty()) out[addr] = pending;
    pending.clear();
    std::string rest = l.substr(colon + 2);
    if (rest.rfind("call", 0) != 0) continue;
    size_t lt = rest.find('<'), gt = rest.find('>');
    if (lt == std::string::npos || gt == std::string::npos || gt < lt) continue;
    std::string callee = rest.substr(lt + 1, gt - lt - 1);
    callee = callee.substr(0, callee.find('@'));
    if (names.count(callee)) pending = callee;
  }
  pclose(f);
  return out;
}

void check_program(const std::string& name, bool pie) {
  CAPTURE(name);
  Program p = load(P + name);
  CHECK(p.pie == pie);
  std::set<std::string> names = {"malloc", "calloc", "realloc", "strdup", "strndup", "posix_memalign",
                                 "aligned_alloc", "pool_alloc"};
  std::map<uint64_t, std::string> oracle = objdump_calls(P + name, names);
  std::map<uint64_t, std::string> ours;
  for (const AllocSite& s : p.alloc_sites) ours[s.return_addr] = s.allocator;
  CHECK(ours == oracle);
  CHECK(oracle.size() == 9);

  // Stable IDs: caller + ordinal in address order; the caller is a static function.
  std::vector<std::string> make_allocators;
  for (const AllocSite& s : p.alloc_sites) {
    CHECK(s.return_addr > s.call_addr);
    CHECK(p.alloc_site_at(s.return_addr) == &s);
    const Function* f = p.function_at(s.call_addr);
    REQUIRE(f != nullptr);
    CHECK(f->id == s.caller);
    CHECK(s.id == s.caller + "#" + std::to_string(s.ordinal));
    if (s.caller == "alloc.c::make") {
      CHECK(s.ordinal == make_allocators.size());
      make_allocators.push_back(s.allocator);
    }
  }
  CHECK(std::set<std::string>(make_allocators.begin(), make_allocators.end()) == names);
  CHECK(make_allocators.size() == 8);
  const AllocSite* m = p.alloc_site_at(p.alloc_sites.front().return_addr);
  REQUIRE(m != nullptr);
  CHECK(p.alloc_site_at(m->return_addr + 1) == nullptr);
  bool main_site = false;
  for (const AllocSite& s : p.alloc_sites) main_site |= s.id == "main#0" && s.allocator == "malloc";
  CHECK(main_site);
}

}  // namespace

TEST_CASE("alloc sites: gcc PIE through .plt") { check_program("alloc_gcc_pie", true); }
TEST_CASE("alloc sites: gcc non-PIE") { check_program("alloc_gcc_nopie", false); }
TEST_CASE("alloc sites: gcc -O2 -fno-plt (calls through the GOT)") { check_program("alloc_gcc_O2_noplt", true); }
TEST_CASE("alloc sites: clang -O2 non-PIE") { check_program("alloc_clang_O2_nopie", false); }

TEST_CASE("alloc sites: type hints from the store of the returned pointer") {
  for (const char* name : {"types_gcc_O0", "types_gcc_O2", "types_clang_O0", "types_clang_O2_nopie"}) {
    CAPTURE(name);
    Program p = load(P + name);
    std::map<std::string, std::string> hint;
    for (const AllocSite& s : p.alloc_sites) hint[s.allocator] = s.type ? p.type_name(s.type) : "";
    CHECK(hint["malloc"] == "struct node");    // list_head = malloc(...)
    CHECK(hint["calloc"] == "struct packet");  // packet = calloc(...)
    CHECK(hint["strdup"] == "const char");     // every.name = strdup(...): a member
  }
  // Stored into void *sink[]: no hint.
  for (const AllocSite& s : load(P + "alloc_gcc_pie").alloc_sites) CHECK(s.type == kVoid);
}

TEST_CASE("alloc sites: annotated allocators only when annotated") {
  Program p = load(P + "alloc_gcc_pie");
  int pool = 0;
  for (const AllocSite& s : p.alloc_sites) pool += s.allocator == "pool_alloc";
  CHECK(pool == 1);
  LoadOptions no_sites;
  no_sites.alloc_sites = false;
  CHECK(load(P + "alloc_gcc_pie", no_sites).alloc_sites.empty());
  // The types program has no annotation: only the libc allocators count.
  Program t = load(P + "types_gcc_O0");
  std::set<std::string> allocators;
  for (const AllocSite& s : t.alloc_sites) allocators.insert(s.allocator);
  CHECK(allocators == std::set<std::string>{"malloc", "calloc", "strdup"});
}

TEST_CASE("alloc sites: IDs per source function across GCC's fragments (add.cold in one build only)") {
  // The same source with and without hot/cold partitioning: the out-of-memory
  // path's calloc is in add.cold in one build, in add in the other. Its site is
  // add#2 in both (numbered after add's own sites), never add.cold#0: a plan would
  // list a site dropped and another added where the source did not change.
  Program whole = load(P + "clones_whole"), split = load(P + "clones_split");
  auto has = [](const Program& p, const std::string& name) {
    for (const Function& f : p.functions)
      if (f.name == name) return true;
    return false;
  };
  REQUIRE(has(split, "add.cold"));  // the build really split it
  REQUIRE(!has(whole, "add.cold"));
  auto ids = [](const Program& p) {
    std::set<std::string> out;
    for (const AllocSite& s : p.alloc_sites) out.insert(s.id);
    return out;
  };
  CHECK(ids(whole) == ids(split));
  CHECK(ids(split) == std::set<std::string>{"add#0", "add#1", "add#2"});
  for (const AllocSite& s : split.alloc_sites) {
    CHECK(s.caller == "add");
    if (s.id == "add#2") CHECK(s.allocator == "calloc");
  }
}

TEST_CASE("alloc sites: IDs per source function across GCC's fragments (make.part.0 in one build only)") {
  // The same source with and without partial inlining: make's likely early return
  // is inlined into main and the rest, with both allocations, moves to make.part.0
  // in one build; make stays whole in the other. The sites are make#0 and make#1
  // in both, never make.part.0#0.
  Program whole = load(P + "parts_whole"), split = load(P + "parts_split");
  auto has = [](const Program& p, const std::string& name) {
    for (const Function& f : p.functions)
      if (f.name == name) return true;
    return false;
  };
  REQUIRE(has(split, "make.part.0"));  // the build really split it
  REQUIRE(!has(whole, "make.part.0"));
  auto ids = [](const Program& p) {
    std::set<std::string> out;
    for (const AllocSite& s : p.alloc_sites)
      if (s.allocator == "malloc" || s.allocator == "calloc") out.insert(s.id);
    return out;
  };
  INFO(*ids(split).begin());
  CHECK(ids(whole) == ids(split));
  CHECK(ids(split).size() == 2);
  for (const AllocSite& s : split.alloc_sites) {
    if (s.allocator != "malloc" && s.allocator != "calloc") continue;
    CHECK(s.id.find(".part") == std::string::npos);
    CHECK(s.id.substr(s.id.size() - 2) == (s.allocator == "malloc" ? "#0" : "#1"));
    CHECK(s.caller.size() >= 4);
    CHECK(s.caller.substr(s.caller.size() - 4) == "make");
  }
}
