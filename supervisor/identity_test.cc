// The identity rule (identity.h) on the corpus of our test programs: every pair of
// consecutive versions of one program is accepted (also across compilers and build
// variants), every pair of different programs is refused, with a message naming
// what each one is made of. The real servers: realworld_identity_test.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "dwarfmeta/load.h"
#include "supervisor/identity.h"

using ttst::supervisor::compare_identity;
using ttst::supervisor::Identity;
namespace dm = ttst::dwarfmeta;

namespace {

// Each program's versions, in release order (one list per program).
const std::map<std::string, std::vector<std::string>> kPrograms = {
    {"kvserver",
     {"tests/programs/kvserver/kvserver_v1", "tests/programs/kvserver/kvserver_v2",
      "tests/programs/kvserver/kvserver_v3"}},
    {"kvserver_ptr", {"tests/programs/kvserver/kvserver_v1_ptr", "tests/programs/kvserver/kvserver_v2_ptr"}},
    {"logger", {"supervisor/tests/logger_v1", "supervisor/tests/logger_v2"}},
    {"annotated",
     {"stfw/tests/programs/annotated/annotated_v1", "stfw/tests/programs/annotated/annotated_v2",
      "stfw/tests/programs/annotated/annotated_v2_plain"}},
    {"libsym", {"stfw/tests/programs/libsym/libsym_v1", "stfw/tests/programs/libsym/libsym_v2"}},
    {"state", {"stfw/tests/programs/state/state_v1", "stfw/tests/programs/state/state_v2"}},
    {"fdserver", {"tests/programs/fdserver/fdserver_v1_bin", "tests/programs/fdserver/fdserver_v2_bin"}},
    {"listing2",
     {"tests/programs/listing2/v1", "tests/programs/listing2/v2", "tests/programs/listing2/v1_clang_O2_dwarf5",
      "tests/programs/listing2/v2_gcc_O2_dwarf4"}},
    {"qprog", {"tests/programs/runtime/qprog", "tests/programs/runtime/qprog_clang"}},
    {"annot", {"tests/programs/runtime/annot", "tests/programs/runtime/annot_clang"}},
    {"heap_stress", {"tests/programs/runtime/heap_stress"}},
    {"cache_probe", {"tests/programs/runtime/cache_probe"}},
    {"crash_v2", {"supervisor/tests/crash_v2"}},
    {"exit_v2", {"supervisor/tests/exit_v2"}},
    {"no_upoint_v2", {"supervisor/tests/no_upoint_v2"}},
    {"semantic_v2", {"supervisor/tests/semantic_v2"}},
};

const dm::Program& program(const std::string& path) {
  static std::map<std::string, dm::Program> cache;
  auto it = cache.find(path);
  if (it == cache.end()) it = cache.emplace(path, dm::load(path, {.debug_roots = {}, .alloc_sites = false})).first;
  return it->second;
}

}  // namespace

TEST_CASE("consecutive versions of each test program are accepted") {
  for (const auto& [name, versions] : kPrograms)
    for (size_t i = 0; i + 1 < versions.size(); i++) {
      CAPTURE(versions[i]);
      CAPTURE(versions[i + 1]);
      Identity id = compare_identity(program(versions[i]), program(versions[i + 1]));
      CHECK_MESSAGE(id.same, id.message);
      CHECK(id.message.find("is a version of the running program") != std::string::npos);
      // The rule is symmetric in what it accepts here: going back is accepted too.
      CHECK(compare_identity(program(versions[i + 1]), program(versions[i])).same);
    }
}

TEST_CASE("every pair of different test programs is refused, naming both") {
  size_t pairs = 0;
  for (const auto& [a, va] : kPrograms)
    for (const auto& [b, vb] : kPrograms) {
      if (a == b || (a.rfind("kvserver", 0) == 0 && b.rfind("kvserver", 0) == 0)) continue;
      for (const std::string& x : {va.front(), va.back()})
        for (const std::string& y : {vb.front(), vb.back()}) {
          CAPTURE(x);
          CAPTURE(y);
          Identity id = compare_identity(program(x), program(y));
          CHECK_FALSE(id.same);
          CHECK(id.message.rfind("the new version is not a version of the running program: it shares ", 0) == 0);
          CHECK(id.message.find('\n') == std::string::npos);
          pairs++;
        }
    }
  MESSAGE(pairs << " cross pairs refused");
  Identity id = compare_identity(program("tests/programs/kvserver/kvserver_v1"), program("supervisor/tests/crash_v2"));
  MESSAGE(id.message);
  CHECK(id.message.find("running: kvserver.c; new: crash_v2.c") != std::string::npos);
  CHECK(id.message.find("; not in the new version: file kvserver.c, function cmd_del, function cmd_get and 18 more)") !=
        std::string::npos);
  CHECK(id.shared == 0);
}

TEST_CASE("the ttst runtime, crt code and main do not count") {
  // exit_v2 and no_upoint_v2 are each main() alone beside the runtime: they share
  // the runtime, main and crt code, and nothing of their own.
  Identity id = compare_identity(program("supervisor/tests/exit_v2"), program("supervisor/tests/no_upoint_v2"));
  CHECK_FALSE(id.same);
  CHECK(id.shared == 0);
  CHECK(id.running == 1);  // its source file
  CHECK(id.next == 1);
  // The same program built twice: everything of its own is shared.
  const dm::Program& v1 = program("tests/programs/kvserver/kvserver_v1");
  Identity self = compare_identity(v1, v1);
  CHECK(self.same);
  CHECK(self.shared == self.running);
  CHECK(self.running > 15);
  for (const auto& f : v1.functions)
    if (f.name == "__ttst_update_point") CHECK(self.message.find(f.file) == std::string::npos);
}

TEST_CASE("a program without its own names is never the same as anything") {
  dm::Program empty;
  CHECK_FALSE(compare_identity(empty, empty).same);
  CHECK_FALSE(compare_identity(empty, program("tests/programs/kvserver/kvserver_v1")).same);
}
