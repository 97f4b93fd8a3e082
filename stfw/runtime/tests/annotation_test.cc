// Annotations written with ttst.h's macros land in .ttst.annot exactly in the
// record format of ttst_abi.h §1 (the format dwarfmeta parses), with gcc and
// clang; update points land in .ttst.upoints inside the right function.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "stfw/abi/ttst_abi.h"

namespace {

struct Record {
  int kind;
  std::string file, target, arg;
  bool operator==(const Record& o) const {
    return kind == o.kind && file == o.file && target == o.target && arg == o.arg;
  }
};

std::vector<char> section(const char* path, const char* name, uint64_t* addr_of_main = nullptr) {
  REQUIRE(elf_version(EV_CURRENT) != EV_NONE);
  int fd = open(path, O_RDONLY);
  REQUIRE(fd >= 0);
  Elf* e = elf_begin(fd, ELF_C_READ, nullptr);
  REQUIRE(e);
  size_t shstr;
  elf_getshdrstrndx(e, &shstr);
  std::vector<char> out;
  bool found = false;
  for (Elf_Scn* s = elf_nextscn(e, nullptr); s; s = elf_nextscn(e, s)) {
    GElf_Shdr sh;
    gelf_getshdr(s, &sh);
    Elf_Data* d = elf_getdata(s, nullptr);
    if (std::string(elf_strptr(e, shstr, sh.sh_name)) == name) {
      found = true;
      CHECK((sh.sh_flags & SHF_ALLOC) == 0);  // costs nothing at run time
      out.assign(static_cast<char*>(d->d_buf), static_cast<char*>(d->d_buf) + d->d_size);
    }
    if (addr_of_main && sh.sh_type == SHT_SYMTAB) {
      for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
        GElf_Sym sym;
        gelf_getsym(d, static_cast<int>(i), &sym);
        if (std::string(elf_strptr(e, sh.sh_link, sym.st_name)) == "main") {
          addr_of_main[0] = sym.st_value;
          addr_of_main[1] = sym.st_value + sym.st_size;
        }
      }
    }
  }
  elf_end(e);
  close(fd);
  REQUIRE_MESSAGE(found, name << " missing in " << path);
  return out;
}

std::vector<Record> parse(const std::vector<char>& b) {
  std::vector<Record> out;
  size_t i = 0;
  auto str = [&](std::string& s) {
    while (i < b.size() && b[i]) s += b[i++];
    REQUIRE(i < b.size());
    i++;
  };
  while (i < b.size()) {
    REQUIRE(i + 3 <= b.size());
    CHECK(static_cast<uint8_t>(b[i]) == TTST_ANNOT_TAG);
    CHECK(static_cast<uint8_t>(b[i + 1]) == TTST_ABI_VERSION);
    Record r{b[i + 2], "", "", ""};
    i += 3;
    str(r.file);
    str(r.target);
    str(r.arg);
    out.push_back(r);
  }
  return out;
}

void round_trip(const char* prog) {
  CAPTURE(prog);
  auto recs = parse(section(prog, TTST_ANNOT_SECTION));
  const std::string f = "tests/programs/runtime/annot.c";
  std::vector<Record> want = {
      {TTST_ANNOT_IXFER, f, "hits", ""},
      {TTST_ANNOT_PXFER, f, "struct conn.cookie", ""},
      {TTST_ANNOT_RENAMED_FROM, f, "pool", "old_pool"},
      {TTST_ANNOT_ALLOCATOR, f, "pool_get", "size=2"},
      {TTST_ANNOT_ALLOCATOR, f, "pool_calloc", "size=2,count=1"},
      {TTST_ANNOT_DEALLOCATOR, f, "pool_put", "ptr=2"},
      {TTST_ANNOT_NO_TRANSFER, f, "main::epfd", ""},
  };
  REQUIRE(recs.size() == want.size());
  for (const Record& w : want) {
    bool found = false;
    for (const Record& r : recs) found |= r == w;
    CHECK_MESSAGE(found, "missing record " << w.kind << " " << w.target << " " << w.arg);
  }
  uint64_t main_range[2] = {0, 0};
  auto up = section(prog, TTST_UPOINTS_SECTION, main_range);
  REQUIRE(up.size() == 8);
  uint64_t a;
  memcpy(&a, up.data(), 8);
  CHECK(a >= main_range[0]);
  CHECK(a < main_range[1]);
}

}  // namespace

TEST_CASE("annotations and update points round-trip (gcc -O2)") { round_trip("tests/programs/runtime/annot"); }
TEST_CASE("annotations and update points round-trip (clang -O0)") {
  round_trip("tests/programs/runtime/annot_clang");
}
