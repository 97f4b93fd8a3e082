// atomic_file_test — a file replaced atomically: full contents, no temporary left
// behind, the old file kept on failure, readers never see a mix.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "inject/sys/atomic_file.h"

namespace fs = std::filesystem;
using ttst::sys::write_file_atomically;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/atomic_file_test.XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() { fs::remove_all(path); }
  size_t entries() const { return static_cast<size_t>(std::distance(fs::directory_iterator(path), {})); }
};

std::string contents_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("creates, then replaces, a file; only the file remains") {
  TempDir dir;
  const std::string file = (dir.path / "report.json").string();
  write_file_atomically(file, std::string_view("first\n"));
  CHECK(contents_of(file) == "first\n");
  write_file_atomically(file, std::string_view("second, longer\n"));
  CHECK(contents_of(file) == "second, longer\n");
  write_file_atomically(file, std::string_view(""));
  CHECK(contents_of(file).empty());
  CHECK(dir.entries() == 1);
}

TEST_CASE("binary contents are written byte for byte, with mode 0644 less the umask") {
  TempDir dir;
  const std::string file = (dir.path / "image.bin").string();
  std::vector<uint8_t> bytes(100000);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7);
  mode_t mask = umask(022);
  write_file_atomically(file, bytes);
  umask(mask);
  std::string back = contents_of(file);
  REQUIRE(back.size() == bytes.size());
  CHECK(std::equal(bytes.begin(), bytes.end(), reinterpret_cast<const uint8_t*>(back.data())));
  struct stat st {};
  REQUIRE(stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
}

TEST_CASE("a failure names the file, keeps the old one and leaves no temporary") {
  TempDir dir;
  SUBCASE("the directory does not exist") {
    CHECK_THROWS_WITH_AS(write_file_atomically((dir.path / "no/such/dir/f").string(), std::string_view("x")),
                         doctest::Contains("no/such/dir/f"), std::runtime_error);
    CHECK(dir.entries() == 0);
  }
  SUBCASE("the target is a non-empty directory (the rename fails)") {
    fs::create_directories(dir.path / "busy" / "inside");
    CHECK_THROWS_WITH_AS(write_file_atomically((dir.path / "busy").string(), std::string_view("x")),
                         doctest::Contains("busy"), std::runtime_error);
    CHECK(fs::is_directory(dir.path / "busy" / "inside"));
    CHECK(dir.entries() == 1);
  }
}

TEST_CASE("a reader never sees a mix of the old and the new contents") {
  TempDir dir;
  const std::string file = (dir.path / "pid").string();
  const std::string a(64 * 1024, 'a'), b(64 * 1024, 'b');
  write_file_atomically(file, std::string_view(a));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 50; ++i) write_file_atomically(file, std::string_view(i % 2 ? a : b));
    done = true;
  });
  int reads = 0, mixed = 0;
  while (!done) {
    std::string seen = contents_of(file);
    ++reads;
    if (seen != a && seen != b) ++mixed;
  }
  writer.join();
  CHECK(reads > 0);
  CHECK(mixed == 0);
  CHECK(dir.entries() == 1);
}
