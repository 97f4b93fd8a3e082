// typing_paths_test.cc — the typing fast path (engine_type_plan.cc: heap elements
// typed by their compiled plans, memoised look-ups, objects whose walk would type
// nothing not pushed) decides exactly as the walk: typing_paths_dump built against
// the shipped engine and against the walk-only variant (TTST_STFW_TYPING_WALK_ONLY)
// runs the same cases (a tree behind the sweep, hash chains with heap string keys
// ahead of and behind their entries, a ring through a global, a char block upgraded
// to a struct, one block reached as two struct types, an interior pointer); each
// writes one line per case (status, message and fix with the root paths, counters,
// F's allocations, a digest of F's memory). The lines must be equal.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> dump(const std::string& variant) {
  const std::string out = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") +
                          "/typing_paths_" + variant + ".txt";
  const std::string command =
      "TYPING_DUMP_OUT='" + out + "' stfw/typing_paths_dump_" + variant + " > /dev/null 2>&1";
  REQUIRE_MESSAGE(std::system(command.c_str()) == 0, command);
  std::ifstream in(out);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("the typing fast path and the walk give the same transfer, refusals and paths") {
  const std::vector<std::string> fast = dump("fast"), walk = dump("walk");
  REQUIRE(fast.size() == 4);
  REQUIRE(walk.size() == fast.size());
  for (size_t i = 0; i < fast.size(); ++i) {
    INFO("fast: " << fast[i]);
    INFO("walk: " << walk[i]);
    CHECK(fast[i] == walk[i]);
  }
  // The cases mean something: the plain one transfers every object, the two-types
  // one is refused naming both paths.
  CHECK(fast[0].find("plain status=0 objects=") == 0);
  CHECK(fast[2].find("two_types status=2 ") == 0);  // TTST_STFW_STATUS_AMBIGUOUS
}
