// annotation_dwarfmeta_test — the annotations a program writes with ttst.h's
// macros reach dwarfmeta's view intact (the round trip of issue 4): kinds, targets,
// arguments, the annotating file, the update point's enclosing function, and an
// annotated allocator's calls counted as allocation sites.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "dwarfmeta/load.h"

using ttst::dwarfmeta::AnnotKind;

namespace {

const ttst::dwarfmeta::Annotation* find(const ttst::dwarfmeta::Program& p, AnnotKind k, const std::string& target) {
  for (const auto& a : p.annotations)
    if (a.kind == k && a.target == target) return &a;
  return nullptr;
}

void check_program(const std::string& path, bool optimized) {
  ttst::dwarfmeta::LoadOptions opts;
  ttst::dwarfmeta::Program p = ttst::dwarfmeta::load(path, opts);
  CHECK(p.annotations.size() == 7);
  struct Want {
    AnnotKind kind;
    const char* target;
    const char* arg;
  } wants[] = {
      {AnnotKind::IXfer, "hits", ""},
      {AnnotKind::PXfer, "struct conn.cookie", ""},
      {AnnotKind::RenamedFrom, "pool", "old_pool"},
      {AnnotKind::Allocator, "pool_get", "size=2"},
      {AnnotKind::Allocator, "pool_calloc", "size=2,count=1"},
      {AnnotKind::Deallocator, "pool_put", "ptr=2"},
      {AnnotKind::NoTransfer, "main::epfd", ""},
  };
  for (const Want& w : wants) {
    CAPTURE(w.target);
    const ttst::dwarfmeta::Annotation* a = find(p, w.kind, w.target);
    REQUIRE(a != nullptr);
    CHECK(a->arg == w.arg);
    CHECK(a->file.find("annot.c") != std::string::npos);
  }
  // The annotated objects exist under the IDs the annotations resolve to.
  CHECK(p.global("annot.c::hits") != nullptr);
  // At -O2 gcc folds the never-written `epfd` away; unoptimized it is a real object.
  if (!optimized) CHECK(p.global("main::epfd") != nullptr);
  // The update point lies in main.
  REQUIRE(!p.update_points.empty());
  CHECK(std::all_of(p.update_points.begin(), p.update_points.end(),
                    [](const ttst::dwarfmeta::UpdatePoint& u) { return u.function == "main"; }));
}

}  // namespace

TEST_CASE("ttst.h annotations round-trip into dwarfmeta (gcc -O2)") { check_program("tests/programs/runtime/annot", true); }

TEST_CASE("ttst.h annotations round-trip into dwarfmeta (clang -O0)") {
  check_program("tests/programs/runtime/annot_clang", false);
}
