// proc_maps_test — the /proc/PID/maps parser, on sample lines and on our own maps.
#include <doctest/doctest.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <unistd.h>

#include "inject/sys/proc_maps.h"

using ttst::sys::Mapping;
using ttst::sys::parse_maps_line;
using ttst::sys::read_maps;

namespace {

const Mapping* mapping_of(const std::vector<Mapping>& maps, const void* p) {
  for (const Mapping& m : maps)
    if (m.contains(reinterpret_cast<uintptr_t>(p))) return &m;
  return nullptr;
}

int a_global = 1;

}  // namespace

TEST_CASE("a file mapping line with a path containing spaces") {
  Mapping m;
  REQUIRE(parse_maps_line(
      "7f12a0000000-7f12a0021000 rw-p 0001c000 fd:01 1234567                    /tmp/a b (deleted)", m));
  CHECK(m.start == 0x7f12a0000000);
  CHECK(m.end == 0x7f12a0021000);
  CHECK(m.size() == 0x21000);
  CHECK(m.perms == "rw-p");
  CHECK(m.offset == 0x1c000);
  CHECK(m.dev == "fd:01");
  CHECK(m.inode == 1234567);
  CHECK(m.path == "/tmp/a b (deleted)");
  CHECK(m.readable());
  CHECK(m.writable());
  CHECK_FALSE(m.executable());
  CHECK_FALSE(m.shared());
}

TEST_CASE("an anonymous mapping has an empty path") {
  Mapping m;
  REQUIRE(parse_maps_line("7ffd1000-7ffd3000 rw-s 00000000 00:00 0 ", m));
  CHECK(m.path.empty());
  CHECK(m.shared());
}

TEST_CASE("malformed lines are refused") {
  Mapping m;
  CHECK_FALSE(parse_maps_line("", m));
  CHECK_FALSE(parse_maps_line("7ffd3000-7ffd1000 rw-p 00000000 00:00 0", m));  // end < start
  CHECK_FALSE(parse_maps_line("zz rw-p 0 00:00 0", m));
  CHECK_FALSE(parse_maps_line("1000-2000 rw-pp 0 00:00 0", m));  // five permission letters
}

TEST_CASE("a mapping without permissions parsed from nothing answers no to everything") {
  Mapping m;  // as a caller may default-construct one before a search
  CHECK_FALSE(m.readable());
  CHECK_FALSE(m.writable());
  CHECK_FALSE(m.executable());
  CHECK_FALSE(m.shared());
}

TEST_CASE("describe() prints a line that parses back to the same mapping") {
  for (const Mapping& m : read_maps(getpid())) {
    Mapping again;
    REQUIRE_MESSAGE(parse_maps_line(m.describe(), again), m.describe());
    CHECK(again == m);
  }
}

TEST_CASE("our own maps: the stack, our code and our data where they are") {
  const std::vector<Mapping> maps = read_maps(getpid());
  REQUIRE(!maps.empty());
  for (size_t i = 1; i < maps.size(); ++i) CHECK(maps[i - 1].end <= maps[i].start);  // address order

  int local = 0;
  const Mapping* stack = mapping_of(maps, &local);
  REQUIRE(stack != nullptr);
  CHECK(stack->path == "[stack]");
  CHECK(stack->writable());

  const Mapping* code = mapping_of(maps, reinterpret_cast<const void*>(&mapping_of));
  REQUIRE(code != nullptr);
  CHECK(code->executable());
  CHECK_FALSE(code->writable());
  CHECK(code->inode != 0);

  const Mapping* data = mapping_of(maps, &a_global);
  REQUIRE(data != nullptr);
  CHECK(data->readable());
  CHECK(data->writable());
}

TEST_CASE("a process that does not exist cannot be read") {
  CHECK_THROWS_WITH_AS(read_maps(INT_MAX), doctest::Contains("/proc/2147483647/maps"), std::runtime_error);
}
