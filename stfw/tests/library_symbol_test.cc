// library_symbol_test.cc — pointers into a shared library that was upgraded on
// disk between the past version's start and the future version's: P runs with a
// copy of libm found through LD_LIBRARY_PATH; before F starts, that file is
// replaced (same path, new inode), so F maps a different file and the pointers
// (two functions, libm's own signgam) can only be carried over by symbol name, and
// back again into R (which maps P's old, deleted file). A pointer no symbol covers
// is refused with its message; so is one to a copy-relocated library variable
// (&stderr) the new executable does not import.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "inject/tests/test_util.h"
#include "stfw/stfw_task.h"
#include "stfw/tests/transfer_checks.h"
#include "stfw/tests/xfer_fixture.h"
#include "tests/util/test_util.h"

using namespace ttst;
using namespace ttst::stfw::testing;
namespace fs = std::filesystem;

namespace {

// A private copy of libm for P, replaced by an identical new file before F starts.
struct UpgradedLibm {
  fs::path dir;
  UpgradedLibm() {
    dir = fs::path(ttst::testutil::tmpdir()) / ("libm-" + std::to_string(getpid()));
    fs::create_directories(dir);
    fs::copy_file("/lib/x86_64-linux-gnu/libm.so.6", dir / "libm.so.6", fs::copy_options::overwrite_existing);
    setenv("LD_LIBRARY_PATH", dir.c_str(), 1);
  }
  void upgrade() const {  // as a package manager does: write aside, rename over
    fs::copy_file("/lib/x86_64-linux-gnu/libm.so.6", dir / "libm.so.6.new", fs::copy_options::overwrite_existing);
    fs::rename(dir / "libm.so.6.new", dir / "libm.so.6");
  }
  ~UpgradedLibm() {
    unsetenv("LD_LIBRARY_PATH");
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// libsym_v1 as P, libsym_v2 as F.
void use_libsym(RoundTrip& rt) {
  rt.v1 = inject::testing::runfile("stfw/tests/programs/libsym/libsym_v1");
  rt.v2 = inject::testing::runfile("stfw/tests/programs/libsym/libsym_v2");
}

}  // namespace

TEST_CASE("a library upgraded on disk: function and data pointers go by symbol, and back") {
  UpgradedLibm libm;
  RoundTrip rt;
  use_libsym(rt);
  rt.before_future = [&] { libm.upgrade(); };
  rt.start();
  inject::AgentOutcome fw = rt.forward();
  require_transferred(fw);
  check_backward_restores_past(rt);
  CHECK(rt.release_future() == "cos:1 sin:1 signgam:1 stream:1");
}

// A pointer into a library the forward transfer must refuse: libsym_v1's mode that
// keeps it, whether libm is upgraded on disk before F starts, and the refusal.
struct LibraryRefusal {
  const char* name;
  const char* v1_mode;
  bool upgrade_libm;
  Refusal want;
};

const LibraryRefusal kLibraryRefusals[] = {
    {"a library upgraded on disk: a pointer no symbol covers is refused", "nosym", true,
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: raw = 0x",
      {"/libm.so.6 (deleted) (no symbol there), which this version's build of the library does not have: policy is "
       "to refuse"}}},
    {"a pointer to a library variable copied into v1's executable that v2 does not import is refused", "stderr",
     false,
     {TTST_STFW_STATUS_AMBIGUOUS, nullptr, "ambiguous: stream = 0x",
      {" points to the library variable stderr copied into the executable, which this version does not import: "
       "policy is to refuse"}}},
};

TEST_CASE("library pointers refused: no symbol in the upgraded library, a copy-relocated variable v2 lacks") {
  for_each_case(kLibraryRefusals, [](const LibraryRefusal& c) {
    std::optional<UpgradedLibm> libm;
    if (c.upgrade_libm) libm.emplace();
    RoundTrip rt;
    use_libsym(rt);
    rt.args = {c.v1_mode};
    if (libm) rt.before_future = [&] { libm->upgrade(); };
    rt.start();
    check_refusal(rt.forward(), c.want);
  });
}
