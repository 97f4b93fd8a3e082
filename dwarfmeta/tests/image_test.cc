// image_test — the flat metadata image: round trip, in-place lookups through the
// freestanding reader, refusal of corrupt images, the build-id cache.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "dwarfmeta/cache.h"
#include "dwarfmeta/image.h"
#include "dwarfmeta/image_writer.h"
#include "dwarfmeta/load.h"

using namespace ttst::dwarfmeta;

namespace {

const std::string P = "dwarfmeta/tests/programs/";

image::View open_view(const std::vector<uint8_t>& bytes) {
  image::View v;
  const char* why = nullptr;
  bool ok = image::View::open(bytes.data(), bytes.size(), &v, &why);
  REQUIRE_MESSAGE(ok, (why ? why : ""));
  return v;
}

std::string refused(std::vector<uint8_t> bytes) {
  image::View v;
  const char* why = nullptr;
  if (image::View::open(bytes.data(), bytes.size(), &v, &why)) return "";
  return why ? why : "?";
}

// Rewrites the checksum so corruption behind it reaches the deeper checks.
void reseal(std::vector<uint8_t>& b) {
  image::ImageHeader h;
  std::memcpy(&h, b.data(), sizeof h);
  h.checksum = image::checksum(b.data() + sizeof h, b.size() - sizeof h);
  std::memcpy(b.data(), &h, sizeof h);
}

image::ImageHeader header(const std::vector<uint8_t>& b) {
  image::ImageHeader h;
  std::memcpy(&h, b.data(), sizeof h);
  return h;
}

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/ttst-cache-test-XXXXXX";
    REQUIRE(mkdtemp(t) != nullptr);
    path = t;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

void round_trip(const std::string& name) {
  CAPTURE(name);
  Program p = load(P + name);
  std::vector<uint8_t> bytes = write_image(p);
  CHECK(bytes.size() % 8 == 0);
  Program q = read_image(bytes.data(), bytes.size());
  CHECK(q.build_id == p.build_id);
  CHECK(q.pie == p.pie);
  CHECK(q.runtime_addr == p.runtime_addr);
  CHECK(q.types == p.types);
  CHECK(q.globals.size() == p.globals.size());
  for (const Global& g : p.globals) {
    const Global* h = q.global(g.id);
    REQUIRE(h != nullptr);
    CHECK(*h == g);
  }
  CHECK(q.functions == p.functions);
  CHECK(q.alloc_sites == p.alloc_sites);
  CHECK(q.annotations == p.annotations);
  CHECK(q.update_points == p.update_points);
  CHECK(q.string_ranges == p.string_ranges);
}

}  // namespace

TEST_CASE("image round trip keeps every part of the Program") {
  for (const char* name : {"types_gcc_O0", "types_clang_O2_nopie", "alloc_gcc_pie", "annot_gcc", "statics"})
    round_trip(name);
}

TEST_CASE("image lookups in place: globals, types with members, functions, alloc sites") {
  Program p = load(P + "annot_gcc");
  std::vector<uint8_t> bytes = write_image(p);
  image::View v = open_view(bytes);
  CHECK(std::string(v.build_id()) == p.build_id);
  CHECK(v.runtime_addr() == p.runtime_addr);
  CHECK(v.runtime_addr() != 0);
  const image::ImageGlobal* conns = v.global("conns");
  REQUIRE(conns != nullptr);
  CHECK(conns->addr == p.global("conns")->addr);
  CHECK(v.global("loop::ticks") != nullptr);
  CHECK(v.global("no_such_global") == nullptr);
  const image::ImageType& arr = v.type(v.strip(conns->type));
  CHECK(arr.kind == uint8_t(TypeKind::Array));
  CHECK(arr.count == 4);
  const image::ImageType& conn = v.type(v.strip(arr.target));
  CHECK(std::string(v.str(conn.name)) == "conn");
  const image::ImageMember* data = v.member(conn, "data");
  REQUIRE(data != nullptr);
  CHECK(data->offset == 8);
  CHECK(v.type(data->type).kind == uint8_t(TypeKind::Pointer));
  CHECK(v.member(conn, "nope") == nullptr);
  const image::ImageFunction* loop = v.function("loop");
  REQUIRE(loop != nullptr);
  CHECK(loop->low == p.function("loop")->low);
  CHECK(loop->return_type == p.function("loop")->return_type);
  CHECK(v.function_containing(loop->low + 1) == loop);
  CHECK(v.function("nope") == nullptr);
  REQUIRE(!p.alloc_sites.empty());
  for (const AllocSite& s : p.alloc_sites) {
    const image::ImageAllocSite* is = v.alloc_site(s.return_addr);
    REQUIRE(is != nullptr);
    CHECK(std::string(v.str(is->id)) == s.id);
  }
  CHECK(v.alloc_site(1) == nullptr);
  REQUIRE(v.update_point_count() == 2);
  CHECK(v.annotation_count() == 6);
  CHECK(v.annotation(2).kind == uint8_t(AnnotKind::RenamedFrom));
  CHECK(std::string(v.str(v.annotation(2).arg)) == "old_counter");
  CHECK(v.in_string_ranges(p.string_ranges.at(0).start));
}

TEST_CASE("image strip: a chain of 70 typedefs and qualifiers ends at the type") {
  Program p;
  p.types.resize(2);
  p.types[1].kind = TypeKind::Base, p.types[1].name = "int", p.types[1].size = 4;
  for (int i = 0; i < 70; ++i) {
    Type t;
    t.kind = i % 2 ? TypeKind::Const : TypeKind::Typedef, t.name = i % 2 ? "" : "t" + std::to_string(i);
    t.target = static_cast<TypeId>(p.types.size() - 1);
    p.types.push_back(t);
  }
  std::vector<uint8_t> bytes = write_image(p);
  image::View v;
  const char* why = nullptr;
  REQUIRE(image::View::open(bytes.data(), bytes.size(), &v, &why));
  CHECK(v.strip(static_cast<uint32_t>(p.types.size() - 1)) == 1);
  CHECK(p.strip(static_cast<TypeId>(p.types.size() - 1)) == 1);
}

TEST_CASE("image.h builds freestanding with no undefined symbols") {
  std::ifstream f("dwarfmeta/tests/freestanding_image.undefined");
  REQUIRE(f.good());
  std::stringstream s;
  s << f.rdbuf();
  CHECK(s.str().empty());
}

TEST_CASE("corrupt images are refused before any lookup") {
  std::vector<uint8_t> good = write_image(load(P + "types_gcc_O0"));
  CHECK(refused(good).empty());

  auto flipped = good;
  flipped[flipped.size() / 2] ^= 0x40;
  CHECK(refused(flipped) == "metadata image checksum mismatch");

  auto magic = good;
  magic[0] = 'X';
  CHECK(refused(magic) == "not a ttst metadata image (bad magic)");

  auto version = good;
  version[8] = 99;
  CHECK(refused(version) == "metadata image version mismatch");

  auto truncated = good;
  truncated.resize(truncated.size() - 8);
  CHECK(refused(truncated) == "metadata image size mismatch");
  CHECK(refused(std::vector<uint8_t>(16, 0)) == "metadata image too small");

  // A table pointing past the end, checksum made consistent.
  auto table = good;
  image::ImageHeader h = header(table);
  h.types_off = table.size() - 8;
  std::memcpy(table.data(), &h, sizeof h);
  reseal(table);
  CHECK(refused(table) == "metadata image table out of bounds");

  // A member referring to a type that does not exist.
  auto member = good;
  h = header(member);
  REQUIRE(h.member_count > 0);
  image::ImageMember m;
  std::memcpy(&m, member.data() + h.members_off, sizeof m);
  m.type = h.type_count + 5;
  std::memcpy(member.data() + h.members_off, &m, sizeof m);
  reseal(member);
  CHECK(refused(member) == "metadata image bad member");

  // A string offset past the string table.
  auto str = good;
  h = header(str);
  image::ImageGlobal g;
  std::memcpy(&g, str.data() + h.globals_off, sizeof g);
  g.name = static_cast<uint32_t>(h.strings_size + 100);
  std::memcpy(str.data() + h.globals_off, &g, sizeof g);
  reseal(str);
  CHECK(refused(str) == "metadata image bad global");

  // Unaligned memory.
  std::vector<uint8_t> shifted(good.size() + 8);
  std::memcpy(shifted.data() + 1, good.data(), good.size());
  image::View v;
  const char* why = nullptr;
  CHECK(!image::View::open(shifted.data() + 1, good.size(), &v, &why));
  CHECK(std::string(why) == "metadata image not 8-byte aligned");

  CHECK_THROWS_AS(read_image(flipped.data(), flipped.size()), Error);
}

TEST_CASE("build-id cache: miss, hit, corrupt entry rebuilt, no build-id not cached") {
  TempDir dir;
  CacheStats st;
  Program direct = load(P + "types_gcc_O0");
  {
    MappedImage m = cached_image(P + "types_gcc_O0", {}, dir.path, &st);
    CHECK(!st.hit);
    CHECK(st.file == dir.path + "/" + direct.build_id + ".v" + std::to_string(image::kVersion) + ".e" +
                         std::to_string(kExtractorVersion) + ".img");
    CHECK(std::filesystem::exists(st.file));
    CHECK(m.view().global("every") != nullptr);
  }
  Program cached = load_cached(P + "types_gcc_O0", {}, dir.path, &st);
  CHECK(st.hit);
  CHECK(cached.types == direct.types);
  CHECK(cached.global("types.c::file_counter")->addr == direct.global("types.c::file_counter")->addr);
  CHECK(cached.functions == direct.functions);

  // Corrupt the cached file: refused, rebuilt, correct again.
  {
    std::fstream f(st.file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x7f');
  }
  Program again = load_cached(P + "types_gcc_O0", {}, dir.path, &st);
  CHECK(!st.hit);
  CHECK(again.types == direct.types);
  load_cached(P + "types_gcc_O0", {}, dir.path, &st);
  CHECK(st.hit);

  // Different binaries, different entries; errors still surface.
  load_cached(P + "alloc_gcc_pie", {}, dir.path, &st);
  CHECK(!st.hit);
  CHECK_THROWS_AS(load_cached(P + "no_dwarf", {}, dir.path), Error);
  CHECK_THROWS_AS(load_cached(P + "not_elf", {}, dir.path), Error);

  Program nb = load_cached(P + "no_build_id", {}, dir.path, &st);
  CHECK(st.file.empty());
  CHECK(!st.hit);
  CHECK(nb.global("every") != nullptr);

  // The default location follows XDG_CACHE_HOME.
  setenv("XDG_CACHE_HOME", dir.path.c_str(), 1);
  CHECK(default_cache_dir() == dir.path + "/ttst/meta");
}
