// ttst-cc as a drop-in compiler: a configure-style project (compile, preprocess,
// link and run probes, a static and a shared library, a program that never
// includes ttst.h), ttst-c++, clang, pass-through, and a clear error when the
// runtime is missing. The steps live in wrapper_test.sh.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <string>

namespace {
int step(const std::string& name) {
  int st = std::system(("stfw/runtime/tests/wrapper_test.sh " + name).c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}
}  // namespace

TEST_CASE("CC=ttst-cc ./configure && make builds an ordinary project") { CHECK(step("configure") == 0); }
TEST_CASE("ttst-c++ builds C++ with update points") { CHECK(step("cxx") == 0); }
TEST_CASE("TTST_REAL_CC=clang") { CHECK(step("clang") == 0); }
TEST_CASE("--version and -dumpversion pass through") { CHECK(step("passthrough") == 0); }
TEST_CASE("a missing runtime is one clear line and exit status 2") { CHECK(step("missing-runtime") == 0); }
TEST_CASE("TTST_POLLER: one .ttst.pollers record per path at an executable's link, none on a compile step, bad input refused") {
  CHECK(step("poller") == 0);
}
TEST_CASE("TTST_ANNOTATIONS: one .ttst.annot record per annotation at an executable's link, bad input refused") {
  CHECK(step("annotations") == 0);
}
TEST_CASE("-static is refused with one clear line and exit status 2") { CHECK(step("static") == 0); }
