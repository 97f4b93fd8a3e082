// load_test — ttst::dwarfmeta::load() on real binaries: every type kind (checked against
// the compiler's own offsetof/sizeof through the shared types.h), state IDs of
// external, file-static and function-static globals, separate debug info, and
// every error case.
#include <doctest/doctest.h>
#include <unistd.h>

#include <elf.h>

#include <cstddef>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "dwarfmeta/elf_file.h"
#include "dwarfmeta/load.h"
#include "dwarfmeta/tests/programs/types.h"

using namespace ttst::dwarfmeta;

namespace {

const std::string P = "dwarfmeta/tests/programs/";

const Member& member(const Program& p, TypeId t, const std::string& name) {
  const Type& ty = p.type(p.strip(t));
  for (const Member& m : ty.members)
    if (m.name == name) return m;
  FAIL("no member " << name << " in " << p.type_name(t));
  throw 0;
}

const Global& global(const Program& p, const std::string& id) {
  const Global* g = p.global(id);
  REQUIRE_MESSAGE(g != nullptr, "no global " << id << " in " << p.path);
  return *g;
}

// The kind of `t` once typedefs are gone, and the type one level down.
const Type& stripped(const Program& p, TypeId t) { return p.type(p.strip(t)); }

void check_types(const Program& p, bool dwarf5) {
  const Global& every = global(p, "every");
  CHECK(every.size == sizeof(struct everything));
  const Type& ev = stripped(p, every.type);
  REQUIRE(ev.kind == TypeKind::Struct);
  CHECK(ev.name == "everything");
  CHECK(ev.size == sizeof(struct everything));

  // Base types with encodings and sizes.
  struct Base {
    const char* member;
    Encoding enc;
    uint64_t size;
    size_t offset;
  } bases[] = {
      {"c", Encoding::SignedChar, 1, offsetof(everything, c)},
      {"sc", Encoding::SignedChar, 1, offsetof(everything, sc)},
      {"uc", Encoding::UnsignedChar, 1, offsetof(everything, uc)},
      {"s", Encoding::Signed, 2, offsetof(everything, s)},
      {"us", Encoding::Unsigned, 2, offsetof(everything, us)},
      {"i", Encoding::Signed, 4, offsetof(everything, i)},
      {"u", Encoding::Unsigned, 4, offsetof(everything, u)},
      {"l", Encoding::Signed, 8, offsetof(everything, l)},
      {"ul", Encoding::Unsigned, 8, offsetof(everything, ul)},
      {"ll", Encoding::Signed, 8, offsetof(everything, ll)},
      {"f", Encoding::Float, 4, offsetof(everything, f)},
      {"d", Encoding::Float, 8, offsetof(everything, d)},
      {"ld", Encoding::Float, 16, offsetof(everything, ld)},
      {"b", Encoding::Bool, 1, offsetof(everything, b)},
      {"cd", Encoding::Complex, 16, offsetof(everything, cd)},
  };
  for (const Base& b : bases) {
    CAPTURE(b.member);
    const Member& m = member(p, every.type, b.member);
    const Type& t = stripped(p, m.type);
    CHECK(t.kind == TypeKind::Base);
    CHECK(t.encoding == b.enc);
    CHECK(t.size == b.size);
    CHECK(m.offset == b.offset);
    CHECK(!m.is_bitfield());
  }
  // Typedef.
  const Member& counter = member(p, every.type, "counter");
  CHECK(p.type(counter.type).kind == TypeKind::Typedef);
  CHECK(p.type(counter.type).name == "counter_t");
  CHECK(p.type(counter.type).size == sizeof(counter_t));
  CHECK(stripped(p, counter.type).encoding == Encoding::Unsigned);
  CHECK(counter.offset == offsetof(everything, counter));
  // Enum with enumerators.
  const Type& color = stripped(p, member(p, every.type, "color").type);
  REQUIRE(color.kind == TypeKind::Enum);
  CHECK(color.name == "color");
  CHECK(color.size == sizeof(enum color));
  REQUIRE(color.enumerators.size() == 3);
  CHECK(color.enumerators[0].name == "RED");
  CHECK(color.enumerators[0].value == RED);
  CHECK(color.enumerators[1].value == GREEN);
  CHECK(color.enumerators[2].name == "BLUE");
  CHECK(color.enumerators[2].value == BLUE);
  CHECK(color.encoding == Encoding::Signed);
  // Bitfields: positions from the start of the struct, in bits.
  const Member& fm = member(p, every.type, "flags");
  CHECK(fm.offset == offsetof(everything, flags));
  const Type& flags = stripped(p, fm.type);
  REQUIRE(flags.members.size() == 4);
  struct flags probe = {};
  probe.b = 0x1f;  // find b's bits by setting them
  unsigned char bytes[sizeof probe];
  std::memcpy(bytes, &probe, sizeof probe);
  int first_b_bit = -1;
  for (int bit = 0; bit < int(sizeof probe * 8); ++bit)
    if (bytes[bit / 8] & (1 << (bit % 8))) {
      first_b_bit = bit;
      break;
    }
  CHECK(flags.members[0].bit_size == 3);
  CHECK(flags.members[0].offset * 8 + flags.members[0].bit_offset == 0);
  CHECK(flags.members[1].bit_size == 5);
  CHECK(int(flags.members[1].offset * 8 + flags.members[1].bit_offset) == first_b_bit);
  CHECK(flags.members[2].bit_size == 7);
  CHECK(stripped(p, flags.members[2].type).encoding == Encoding::Signed);
  CHECK(!flags.members[3].is_bitfield());
  CHECK(flags.members[3].offset == offsetof(struct flags, tail));
  // Multi-dimensional array: int[2][3][4] nests.
  const Member& grid = member(p, every.type, "grid");
  const Type& g0 = p.type(grid.type);
  REQUIRE(g0.kind == TypeKind::Array);
  CHECK(g0.count == 2);
  CHECK(g0.size == sizeof(everything::grid));
  const Type& g1 = p.type(g0.target);
  CHECK(g1.kind == TypeKind::Array);
  CHECK(g1.count == 3);
  const Type& g2 = p.type(g1.target);
  CHECK(g2.count == 4);
  CHECK(p.type(g2.target).name == "int");
  CHECK(p.declaration(grid.type, "grid") == "int grid[2][3][4]");
  // Pointers and qualifiers.
  CHECK(p.type_name(member(p, every.type, "name").type) == "const char *");
  CHECK(p.type(member(p, every.type, "vi").type).kind == TypeKind::Volatile);
  CHECK(p.type(member(p, every.type, "rp").type).kind == TypeKind::Restrict);
  CHECK(p.declaration(member(p, every.type, "rp").type, "rp") == "char *restrict rp");
  if (dwarf5) CHECK(p.type(member(p, every.type, "ai").type).kind == TypeKind::Atomic);
  CHECK(p.declaration(member(p, every.type, "cp").type, "cp") == "int *const cp");
  CHECK(p.type_name(member(p, every.type, "pp").type) == "struct node **");
  // Function pointers.
  const Member& handler = member(p, every.type, "handler");
  CHECK(p.type(handler.type).name == "handler_fn");
  const Type& hp = stripped(p, handler.type);
  REQUIRE(hp.kind == TypeKind::Pointer);
  const Type& hf = p.type(hp.target);
  REQUIRE(hf.kind == TypeKind::Function);
  CHECK(p.type(hf.target).name == "int");
  REQUIRE(hf.params.size() == 2);
  CHECK(p.type_name(hf.params[1]) == "const char *");
  CHECK(!hf.variadic);
  const Member& cb = member(p, every.type, "cb");
  CHECK(p.type_name(cb.type) == "void (*)(void *, ...)");
  CHECK(p.type(p.type(cb.type).target).variadic);
  CHECK(cb.offset == offsetof(everything, cb));
  CHECK(member(p, every.type, "cp").offset == offsetof(everything, cp));

  // Self-referencing struct with an anonymous union; one definition after dedup.
  const Global& head = global(p, "list_head");
  const Type& hptr = p.type(head.type);
  REQUIRE(hptr.kind == TypeKind::Pointer);
  TypeId node_id = hptr.target;
  const Type& node = p.type(node_id);
  CHECK(node.name == "node");
  CHECK(node.size == sizeof(struct node));
  CHECK(p.type(member(p, node_id, "next").type).target == node_id);
  const Member& anon = node.members.at(2);
  CHECK(anon.name.empty());
  CHECK(p.type(anon.type).kind == TypeKind::Union);
  CHECK(anon.offset == offsetof(struct node, l));
  int node_defs = 0;
  for (const Type& t : p.types) node_defs += t.kind == TypeKind::Struct && t.name == "node" && !t.declaration;
  CHECK(node_defs == 1);

  // Flexible and zero-length arrays.
  const Type& packet = p.type(p.type(global(p, "packet").type).target);
  CHECK(packet.size == sizeof(struct packet));
  const Type& data = p.type(member(p, p.type(global(p, "packet").type).target, "data").type);
  CHECK(data.kind == TypeKind::Array);
  CHECK(data.count == kFlexible);
  CHECK(p.declaration(member(p, p.type(global(p, "packet").type).target, "data").type, "data") == "char data[]");
  const Global& zl = global(p, "zero_len");
  const Member& none = member(p, zl.type, "none");
  CHECK(p.type(none.type).kind == TypeKind::Array);
  CHECK(p.type(none.type).count == 0);
  CHECK(none.offset == offsetof(struct zl, none));

  // Globals: TLS, read-only, arrays, function statics.
  CHECK(global(p, "tls_value").tls);
  CHECK(!global(p, "every").tls);
  CHECK(global(p, "table").readonly);
  CHECK(global(p, "table").size == 16);
  CHECK(p.type_name(global(p, "table").type) == "const int[4]");
  CHECK(!global(p, "every").readonly);
  CHECK(global(p, "relro_handlers").readonly);
  CHECK(!global(p, "handlers").readonly);
  CHECK(global(p, "message").size == 6);
  CHECK(p.type_name(global(p, "handlers").type) == "handler_fn[2]");
  const Global& fc = global(p, "first::calls");
  CHECK(fc.linkage == Linkage::FunctionStatic);
  CHECK(fc.function == "first");
  CHECK(fc.name == "calls");
  CHECK(global(p, "second::calls").addr != fc.addr);
  // A static of a function inlined into main (at -O2) still belongs to it.
  CHECK(global(p, "bump::hits").function == "bump");

  // Link-time addresses agree with the symbol table.
  ElfFile elf(p.path);
  int checked = 0;
  for (const Symbol& s : elf.symbols()) {
    if (s.type != STT_OBJECT) continue;
    if (s.name == "every" || s.name == "list_head" || s.name == "table") {
      CHECK(global(p, s.name).addr == s.value);
      ++checked;
    }
  }
  CHECK(checked == 3);
}

}  // namespace

TEST_CASE("every type kind, gcc -O0 DWARF 5 (PIE)") {
  Program p = load(P + "types_gcc_O0");
  CHECK(p.pie);
  CHECK(p.build_id.size() >= 16);
  check_types(p, true);
  const Global& fs = global(p, "types.c::file_counter");
  CHECK(fs.linkage == Linkage::FileStatic);
  CHECK(fs.file == "types.c");
  CHECK(p.global("file_counter") == nullptr);
  CHECK(global(p, "second::cache").size == sizeof(struct node));
}

TEST_CASE("every type kind, gcc -O2 DWARF 4") { check_types(load(P + "types_gcc_O2"), false); }

TEST_CASE("every type kind, compressed debug sections (-gz)") { check_types(load(P + "compressed"), true); }

TEST_CASE("every type kind, clang -O0 DWARF 5") { check_types(load(P + "types_clang_O0"), true); }

TEST_CASE("every type kind, clang -O2 DWARF 4, non-PIE") {
  Program p = load(P + "types_clang_O2_nopie");
  CHECK(!p.pie);
  CHECK(global(p, "every").addr >= 0x400000);
  check_types(p, false);
}

TEST_CASE("functions: ranges, static functions, lookups by address") {
  Program p = load(P + "types_gcc_O0");
  const Function* main_fn = p.function("main");
  REQUIRE(main_fn != nullptr);
  CHECK(main_fn->high > main_fn->low);
  CHECK(main_fn->external);
  CHECK(main_fn->file == "types.c");
  CHECK(p.function_at(main_fn->low + 1) == main_fn);
  CHECK(p.function_at(main_fn->high) != main_fn);
  const Function* on_event = p.function("types.c::on_event");
  REQUIRE(on_event != nullptr);
  CHECK(!on_event->external);
  CHECK(p.function("on_event") == on_event);  // plain names work too
  CHECK(p.type_name(on_event->return_type) == "int");  // the return type, from DWARF
  CHECK(p.type_name(main_fn->return_type) == "int");
  REQUIRE(!p.string_ranges.empty());
  CHECK(p.string_ranges[0].name.rfind(".rodata", 0) == 0);
  CHECK(p.string_ranges[0].end > p.string_ranges[0].start);
  const Global& table = global(p, "table");  // const data lives in .rodata
  bool inside = false;
  for (const Range& r : p.string_ranges) inside |= table.addr >= r.start && table.addr < r.end;
  CHECK(inside);
}

TEST_CASE("state IDs of file statics and function statics across two files") {
  Program p = load(P + "statics");
  CHECK(global(p, "statics_a.c::counter").linkage == Linkage::FileStatic);
  CHECK(global(p, "statics_b.c::counter").linkage == Linkage::FileStatic);
  CHECK(global(p, "statics_a.c::counter").addr != global(p, "statics_b.c::counter").addr);
  // Same-named static functions with statics: the file disambiguates both.
  CHECK(global(p, "statics_a.c::tick::calls").function == "tick");
  CHECK(global(p, "statics_b.c::tick::calls").file == "statics_b.c");
  CHECK(p.global("tick::calls") == nullptr);
  CHECK(global(p, "run_a::runs").linkage == Linkage::FunctionStatic);
  CHECK(global(p, "shared_total").linkage == Linkage::External);
  // Two different `struct config`: each pointer keeps its own definition.
  const Type& ca = p.type(p.type(global(p, "cfg_a").type).target);
  const Type& cb = p.type(p.type(global(p, "cfg_b").type).target);
  CHECK(ca.name == "config");
  CHECK(cb.name == "config");
  REQUIRE(ca.members.size() == 1);
  CHECK(ca.members[0].name == "a");
  REQUIRE(cb.members.size() == 2);
  CHECK(cb.members[1].name == "y");
  CHECK(cb.size == 16);
  REQUIRE(p.function("statics_a.c::tick") != nullptr);
  REQUIRE(p.function("statics_b.c::tick") != nullptr);
  CHECK(p.function("statics_a.c::tick")->low != p.function("statics_b.c::tick")->low);
}

TEST_CASE("separate debug info is found by build-id") {
  namespace fs = std::filesystem;
  CHECK_THROWS_AS(load(P + "sepdebug", LoadOptions{{"/nonexistent"}, true}), Error);
  ElfFile stripped(P + "sepdebug");
  CHECK(!stripped.has_dwarf());
  std::string id = stripped.build_id();
  REQUIRE(id.size() > 4);
  char tmpl[] = "/tmp/ttst-debugroot-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  fs::path root = tmpl;
  fs::create_directories(root / ".build-id" / id.substr(0, 2));
  fs::path dbg = root / ".build-id" / id.substr(0, 2) / (id.substr(2) + ".debug");
  fs::copy_file(P + "sepdebug.debug", dbg);
  Program p = load(P + "sepdebug", LoadOptions{{"/nonexistent", root.string()}, true});
  CHECK(p.debug_file == dbg.string());
  CHECK(p.global("every") != nullptr);
  CHECK(p.global("types.c::file_counter") != nullptr);
  CHECK(p.function("main") != nullptr);
  CHECK(p.alloc_sites.size() == 3);  // code comes from the stripped binary itself
  fs::remove_all(root);
}

TEST_CASE("every error case is a typed error with a one-line message") {
  auto fails = [](const std::string& path, ErrorKind kind, const std::string& text) {
    CAPTURE(path);
    try {
      load(path);
      FAIL("loaded " << path);
    } catch (const Error& e) {
      CHECK(e.kind() == kind);
      std::string msg = e.what();
      CHECK(msg.find(text) != std::string::npos);
      CHECK(msg.find('\n') == std::string::npos);
      CHECK(msg.find(path) != std::string::npos);
    }
  };
  fails(P + "not_elf", ErrorKind::NotElf, "not an ELF file");
  fails(P + "truncated", ErrorKind::NotElf, "truncated");
  fails(P + "not_x86", ErrorKind::NotX86_64, "not an x86-64 ELF binary");
  fails(P + "elf32", ErrorKind::NotX86_64, "32-bit");
  fails(P + "no_dwarf", ErrorKind::NoDwarf, "built without -g: rebuild with ttst-cc or -g");
  fails(P + "does-not-exist", ErrorKind::Unreadable, "No such file");
  fails("dwarfmeta/tests", ErrorKind::Unreadable, "not a regular file");
  // Type units are refused clearly, not read as void types.
  try {
    load(P + "type_units4");
    FAIL("loaded type_units4");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::BadDwarf);
    CHECK(std::string(e.what()).find("-fdebug-types-section") != std::string::npos);
  }
  CHECK_THROWS_AS(load(P + "type_units5"), Error);
}

TEST_CASE("DWARF 5 implicit_const sizes and file numbers (gcc -O2) are read") {
  Program p = load(P + "implicit_const");
  for (int i : {0, 3, 23}) {
    const Global& g = global(p, "g" + std::to_string(i));
    CAPTURE(i);
    CHECK(p.type(g.type).size == 24);
    CHECK(g.size == 24);
  }
  // The file number is an implicit_const too: the static still gets its file.
  CHECK(global(p, "implicit_const.c::file_count").linkage == Linkage::FileStatic);
}
