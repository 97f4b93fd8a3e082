// The identity rule (supervisor/identity.h) on real servers: each release in
// ../shared/realworld (beside the workspace) is built from its unmodified source
// with -g (build_release.sh), and every consecutive pair of releases of one server
// (memcached 1.2.2→1.2.3→1.2.4, 1.6.38→1.6.39, nginx 1.26.0→1.26.1→1.26.2) is
// accepted, in both directions; every pair of memcached and nginx is refused. A
// missing corpus fails the test: it never passes without having looked.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "dwarfmeta/load.h"
#include "supervisor/identity.h"
#include "tests/util/test_util.h"

namespace fs = std::filesystem;
namespace dm = ttst::dwarfmeta;
using ttst::supervisor::compare_identity;
using ttst::supervisor::Identity;

namespace {

const std::vector<std::vector<std::string>> kServers = {
    {"memcached-1.2.2", "memcached-1.2.3", "memcached-1.2.4"},
    {"memcached-1.6.38", "memcached-1.6.39"},
    {"nginx-1.26.0", "nginx-1.26.1", "nginx-1.26.2"},
};

// The workspace root: this test's runfiles link back to the source tree.
fs::path workspace_root() {
  fs::path script = fs::canonical("tests/realworld/build_release.sh");
  return script.parent_path().parent_path().parent_path();
}

fs::path corpus() {
  fs::path dir = workspace_root() / ".." / "shared" / "realworld";
  REQUIRE_MESSAGE(fs::is_directory(dir), "the real-server corpus is missing: no directory " << dir.lexically_normal()
                                                                                             << " (../shared/realworld beside the workspace)");
  return fs::canonical(dir);
}

std::string run(const std::string& cmd) {
  const ttst::testutil::Ran ran = ttst::testutil::run(cmd);
  REQUIRE_MESSAGE(ran.status == 0, cmd << " failed");
  std::string out = ran.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Every release built once, its metadata loaded once.
const dm::Program& release(const std::string& name) {
  static std::map<std::string, dm::Program> programs;
  if (auto it = programs.find(name); it != programs.end()) return it->second;
  fs::path tarball = corpus() / (name + ".tar.gz");
  REQUIRE_MESSAGE(fs::is_regular_file(tarball), "the real-server corpus lacks " << tarball);
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string out = std::string(tmp ? tmp : "/tmp") + "/realworld";
  std::string binary = run("bash tests/realworld/build_release.sh " + tarball.string() + " " + out);
  return programs.emplace(name, dm::load(binary, {.debug_roots = {}, .alloc_sites = false})).first->second;
}

}  // namespace

TEST_CASE("consecutive releases of memcached and nginx are accepted") {
  for (const auto& versions : kServers)
    for (size_t i = 0; i + 1 < versions.size(); i++) {
      CAPTURE(versions[i]);
      CAPTURE(versions[i + 1]);
      Identity id = compare_identity(release(versions[i]), release(versions[i + 1]));
      MESSAGE(versions[i] << " -> " << versions[i + 1] << ": " << id.message);
      CHECK(id.same);
      CHECK(id.running > 100);  // a real program was read, not an empty one
      CHECK(compare_identity(release(versions[i + 1]), release(versions[i])).same);
    }
}

TEST_CASE("memcached and nginx are refused, either way, naming both") {
  for (const char* m : {"memcached-1.2.4", "memcached-1.6.39"})
    for (const char* n : {"nginx-1.26.0", "nginx-1.26.2"}) {
      CAPTURE(m);
      CAPTURE(n);
      Identity a = compare_identity(release(m), release(n));
      Identity b = compare_identity(release(n), release(m));
      MESSAGE(std::string(m) << " -> " << n << ": " << a.message);
      CHECK_FALSE(a.same);
      CHECK_FALSE(b.same);
      CHECK(a.message.find("new: nginx.c, ngx_") != std::string::npos);
      CHECK(b.message.find("running: nginx.c, ngx_") != std::string::npos);
      CHECK(a.shared == 0);
    }
}
