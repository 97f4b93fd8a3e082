// maps_test — the /proc/PID/maps parser.
#include <doctest/doctest.h>

#include <unistd.h>

#include "diff/maps.h"

TEST_CASE("a file mapping line with a path containing spaces") {
  ttst::diff::Mapping m;
  REQUIRE(ttst::diff::parse_maps_line(
      "7f12a0000000-7f12a0021000 rw-p 0001c000 fd:01 1234567                    /tmp/a b (deleted)", m));
  CHECK(m.start == 0x7f12a0000000);
  CHECK(m.end == 0x7f12a0021000);
  CHECK(m.perms == "rw-p");
  CHECK(m.offset == 0x1c000);
  CHECK(m.dev == "fd:01");
  CHECK(m.inode == 1234567);
  CHECK(m.path == "/tmp/a b (deleted)");
  CHECK(m.writable());
  CHECK(!m.shared());
}

TEST_CASE("an anonymous mapping has an empty path") {
  ttst::diff::Mapping m;
  REQUIRE(ttst::diff::parse_maps_line("7ffd1000-7ffd3000 rw-s 00000000 00:00 0 ", m));
  CHECK(m.path.empty());
  CHECK(m.shared());
}

TEST_CASE("malformed lines are refused") {
  ttst::diff::Mapping m;
  CHECK(!ttst::diff::parse_maps_line("", m));
  CHECK(!ttst::diff::parse_maps_line("7ffd3000-7ffd1000 rw-p 00000000 00:00 0", m));  // end < start
  CHECK(!ttst::diff::parse_maps_line("zz rw-p 0 00:00 0", m));
}

TEST_CASE("our own maps parse and include the stack") {
  auto maps = ttst::diff::read_maps(getpid());
  bool stack = false;
  for (auto& m : maps) stack |= m.path == "[stack]";
  CHECK(stack);
  CHECK_THROWS(ttst::diff::read_maps(-5));
}
