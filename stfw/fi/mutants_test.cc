// mutants_test — the operators on a small C file: each fault type at the sites it
// names, comments/strings/preprocessor lines never mutated, probes placed where
// the fault executes, ids stable.
#include <doctest/doctest.h>

#include <map>

#include "stfw/fi/c_source.h"
#include "stfw/fi/mutants.h"

using namespace ttst::fi;

namespace {

const char *kSource = R"(#include "x.h"
/* if (commented) { d->gone = 1; } */
static int helper(struct ttst_xfer *x) { return 0; }
static int fwd(struct ttst_xfer *x, const void *src, void *dst) {
  const struct s *s = src;
  struct d *d = dst;
  uint64_t n = s->len, m = 2;
  if (helper(x)) return -1;
  if (n < m) d->len = n;
  else d->len = m;
  char *p = ttst_xfer_ptr(x, s->p);
  ttst_xfer_copy(d->bytes, p, n);
  d->count = s->count;
  const char *str = "if (x) { y->z = 1; }";
  return 0;
}
)";

std::vector<Mutant> of(const std::vector<Mutant> &all, const std::string &fault) {
  std::vector<Mutant> out;
  for (const Mutant &m : all)
    if (m.fault == fault) out.push_back(m);
  return out;
}

bool has(const std::vector<Mutant> &ms, const std::string &desc) {
  for (const Mutant &m : ms)
    if (m.description == desc) return true;
  return false;
}

}  // namespace

TEST_CASE("masking keeps offsets and hides comments, literals and directives") {
  std::string m = mask_c(kSource);
  REQUIRE(m.size() == std::string(kSource).size());
  CHECK(m.find("commented") == std::string::npos);
  CHECK(m.find("y->z") == std::string::npos);
  CHECK(m.find("include") == std::string::npos);
  std::vector<Function> fs = find_functions(m);
  REQUIRE(fs.size() == 2);
  CHECK(fs[0].name == "helper");
  CHECK(fs[1].name == "fwd");
}

TEST_CASE("each operator finds its sites in the function asked for") {
  MutationInput in{"xfer", kSource, {"fwd"}, {"ttst_xfer_member"}, 2, 7};
  std::vector<Mutant> all = generate_mutants(in);
  for (const Mutant &m : all) CHECK(m.function == "fwd");
  auto b = of(all, "branch_flip");
  CHECK(has(b, "`n < m` -> `!(n < m)`"));
  CHECK(has(b, "`n < m` -> `0`"));
  CHECK(has(b, "`helper(x)` -> `1`"));
  CHECK(has(of(all, "off_by_one"), "`<` -> `<=`"));
  CHECK(has(of(all, "off_by_one"), "`2` -> `3`"));
  auto u = of(all, "uninit");
  CHECK(has(u, "` = s->len` -> ``"));
  CHECK(has(u, "` = 2` -> ``"));
  CHECK(u.size() == 2 * 6);  // 6 initialised locals, 2 variants each (missing, garbage)
  auto skip = of(all, "field_skip");
  CHECK(has(skip, "`d->len = n;` -> `;`"));
  CHECK(has(skip, "`d->count = s->count;` -> `;`"));
  CHECK(has(skip, "`d->len = m;` -> `;`"));  // after an else
  CHECK(has(skip, "`if (helper(x)) return -1;` -> `;`"));   // a checked call of the file's own function
  CHECK(has(skip, "`ttst_xfer_copy(d->bytes, p, n);` -> `;`"));
  CHECK(has(of(all, "field_wrong"), "`count` -> `len`"));  // another member of the same source object
  CHECK(of(all, "pointer").size() == 2 + 2);                // +1, -1 element, 2 random addresses
  auto o = of(all, "overflow");
  REQUIRE(o.size() == 2);
  CHECK(o[0].description.find("(n) + ((n) *") != std::string::npos);
  for (const Mutant &m : all) {
    CHECK(m.description.find("commented") == std::string::npos);
    CHECK(m.probe.text.find("__asm__ volatile(\"ud2\");") != std::string::npos);
  }
}

TEST_CASE("a mutant and its probe apply at the same place; ids are stable") {
  MutationInput in{"xfer", kSource, {}, {}, 1, 1};
  std::vector<Mutant> a = generate_mutants(in), b = generate_mutants(in);
  REQUIRE(a.size() == b.size());
  std::map<std::string, int> ids;
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].id == b[i].id);
    CHECK(++ids[a[i].id] == 1);
  }
  for (const Mutant &m : a)
    if (m.description == "`d->len = n;` -> `;`") {
      CHECK(apply(kSource, m.edit).find("if (n < m) ;") != std::string::npos);
      CHECK(apply(kSource, m.probe).find("if (n < m) { __asm__ volatile(\"ud2\"); d->len = n; }") != std::string::npos);
      CHECK(m.id.rfind("xfer.fwd.field_skip.", 0) == 0);
    }
}
