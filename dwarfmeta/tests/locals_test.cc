// locals_test — the locals and parameters dwarfmeta records at fixed places of their
// function's frame (model.h Local): each one's offset from the frame's CFA must be
// where the running program itself finds it (it prints &x - CFA), with gcc (frame
// base DW_OP_call_frame_cfa) and clang (frame base rbp); the metadata image keeps
// them and finds the local holding any byte of its slot.
#include <doctest/doctest.h>

#include <cstdio>
#include <map>
#include <string>

#include "dwarfmeta/image.h"
#include "dwarfmeta/image_writer.h"
#include "dwarfmeta/load.h"

using namespace ttst::dwarfmeta;

namespace {

// name -> &name - CFA, as the program prints them.
std::map<std::string, long> printed(const std::string& path) {
  std::map<std::string, long> out;
  FILE* f = popen(path.c_str(), "r");
  REQUIRE(f != nullptr);
  char name[64];
  long v = 0;
  while (std::fscanf(f, "%63s %ld", name, &v) == 2) out[name] = v;
  pclose(f);
  return out;
}

void check(const std::string& path) {
  Program p = load(path);
  const Function* frame = p.function("frame");
  REQUIRE(frame != nullptr);
  std::map<std::string, long> expected = printed(path);
  REQUIRE(expected.size() == 4);
  std::map<std::string, const Local*> found;
  for (const Local& l : p.locals)
    if (l.function_low == frame->low) found[l.name] = &l;
  for (const auto& [name, offset] : expected) {
    INFO(path << " " << name);
    REQUIRE(found.count(name) == 1);
    CHECK(found[name]->cfa_offset == offset);
  }
  CHECK(found["buf"]->size == 24);
  CHECK(found["local"]->size == 8);
  std::vector<uint8_t> bytes = write_image(p);
  image::View v;
  const char* why = nullptr;
  REQUIRE(image::View::open(bytes.data(), bytes.size(), &v, &why));
  const image::ImageLocal* in_buf = v.local_holding(frame->low, expected["buf"] + 23);
  REQUIRE(in_buf != nullptr);
  CHECK(std::string(v.str(in_buf->name)) == "buf");
  CHECK(v.local_holding(frame->low, expected["buf"] + 24) != in_buf);
  CHECK(read_image(bytes.data(), bytes.size()).locals == p.locals);
}

}  // namespace

TEST_CASE("locals at fixed frame places: gcc -O0 (frame base: the CFA)") { check("dwarfmeta/tests/programs/locals_gcc_O0"); }
TEST_CASE("locals at fixed frame places: clang -O0 (frame base: rbp)") { check("dwarfmeta/tests/programs/locals_clang_O0"); }
