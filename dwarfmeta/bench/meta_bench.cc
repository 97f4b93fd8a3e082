// meta_bench — how long state metadata extraction takes on a large program.
//
// Generates a C program with well over 200,000 DIEs (a header of many structs,
// unions, enums, typedefs and function-pointer types shared by many translation
// units, plus functions, locals and globals in each), builds it with gcc -g, then
// times: ttst::dwarfmeta::load (DWARF walk + Capstone), write_image, the build-id cache
// hit (map + checksum + validate), a hit with in-place lookups, and load_cached
// (hit + rebuilding the C++ Program). Prints figures against the goals
// (extraction < 0.5 s, from cache < 10 ms). Not a test: run it by hand:
//   bazel run -c opt //dwarfmeta/bench:meta_bench [-- --units N --structs N]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dwarfmeta/cache.h"
#include "dwarfmeta/image_writer.h"
#include "dwarfmeta/load.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// CPU time (user + system) of this process so far, in ms: on a shared machine the
// wall clock also counts time other processes held the CPU.
double cpu_ms() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

void write_header(const std::string& file, int structs) {
  std::ofstream h(file);
  h << "#include <stddef.h>\n#include <stdint.h>\n";
  for (int e = 0; e < structs / 5; ++e) {
    h << "enum e" << e << " {";
    for (int k = 0; k < 8; ++k) h << " E" << e << "_" << k << " = " << k * 3 << ",";
    h << " };\n";
  }
  for (int s = 0; s < structs; ++s) {
    h << "struct s" << s << ";\n";
    h << "typedef int (*fn" << s << "_t)(int, const char *, struct s" << s << " *);\n";
    h << "struct s" << s << " {\n";
    h << "  int id;\n  unsigned flags : 3;\n  unsigned mode : 5;\n  char name[16];\n  double ratio;\n";
    h << "  long counts[2][3];\n  fn" << s << "_t handler;\n  union { int i; float f; } u;\n";
    h << "  enum e" << (s / 5) << " kind;\n  const char *label;\n  uint64_t stamp;\n";
    if (s > 0) h << "  struct s" << (s - 1) << " *prev;\n  struct s" << (s - 1) << " inner;\n";
    h << "  struct s" << s << " *next;\n};\n";
    h << "typedef struct s" << s << " s" << s << "_t;\n";
  }
}

void write_unit(const std::string& file, int unit, int structs, int functions) {
  std::ofstream c(file);
  c << "#include <stdlib.h>\n#include \"big.h\"\n";
  for (int g = 0; g < structs; g += 7) c << "s" << g << "_t u" << unit << "_g" << g << ";\n";
  c << "static int u" << unit << "_counter;\n";
  for (int f = 0; f < functions; ++f) {
    int s = (f * 13 + unit) % structs;
    c << "int u" << unit << "_f" << f << "(int a, struct s" << s << " *p, const char *q) {\n";
    c << "  static int calls;\n  int x = a + (int)p->id;\n  long y = x * 3;\n  double z = p->ratio;\n";
    c << "  char buf[8];\n  buf[0] = q[0];\n";
    c << "  if (a > 1000) { struct s" << s << " *n = malloc(sizeof *n); n->next = p; p = n; }\n";
    c << "  u" << unit << "_counter += ++calls;\n  return x + (int)y + (int)z + buf[0] + p->id;\n}\n";
  }
}

// The generated program: a shared header, `units` translation units and a main,
// compiled with gcc -g into `bin`. False (with a message) if gcc fails.
bool build_program(const std::string& dir, const std::string& bin, int units, int structs, int functions) {
  write_header(dir + "/big.h", structs);
  std::string srcs;
  for (int u = 0; u < units; ++u) {
    std::string f = dir + "/unit" + std::to_string(u) + ".c";
    write_unit(f, u, structs, functions);
    srcs += " " + f;
  }
  {
    std::ofstream m(dir + "/main.c");
    m << "int main(void) { return 0; }\n";
    srcs += " " + dir + "/main.c";
  }
  std::printf("generating and compiling %d translation units (gcc -g -O0 -fno-eliminate-unused-debug-types)...\n",
              units + 1);
  std::string cmd = "gcc -w -g -O0 -fno-eliminate-unused-debug-types -o " + bin + srcs;
  auto t0 = Clock::now();
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "meta_bench: compiling the generated program failed\n");
    return false;
  }
  std::printf("compiled in %.1f s\n", ms_since(t0) / 1000);
  return true;
}

// The 1-minute load average ("?" if unreadable): how busy the machine was.
std::string load_average() {
  char buf[64] = "?";
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (!std::fgets(buf, sizeof buf, f)) buf[0] = 0;
    std::fclose(f);
  }
  std::string text = buf;
  return text.substr(0, text.find(' '));
}

}  // namespace

int main(int argc, char** argv) {
  int units = 24, structs = 400, functions = 120;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--units") units = std::atoi(argv[i + 1]);
    if (a == "--structs") structs = std::atoi(argv[i + 1]);
    if (a == "--functions") functions = std::atoi(argv[i + 1]);
  }
  char tmpl[] = "/tmp/ttst-meta-bench-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  std::string dir = tmpl;
  const std::string bin = dir + "/big";
  if (!build_program(dir, bin, units, structs, functions)) return 1;

  constexpr int kRuns = 5;
  std::vector<double> load_ms, load_cpu_ms, write_ms, hit_ms, lookup_ms, cached_ms;
  ttst::dwarfmeta::Program prog;
  for (int r = 0; r < kRuns; ++r) {
    auto t = Clock::now();
    double c = cpu_ms();
    prog = ttst::dwarfmeta::load(bin);
    load_ms.push_back(ms_since(t));
    load_cpu_ms.push_back(cpu_ms() - c);
    t = Clock::now();
    std::vector<uint8_t> img = ttst::dwarfmeta::write_image(prog);
    write_ms.push_back(ms_since(t));
  }
  std::string cache = dir + "/cache";
  ttst::dwarfmeta::CacheStats st;
  ttst::dwarfmeta::cached_image(bin, {}, cache, &st);  // the miss that fills the cache
  uint64_t image_size = 0;
  long found = 0;
  for (int r = 0; r < kRuns; ++r) {
    auto t = Clock::now();
    ttst::dwarfmeta::MappedImage m = ttst::dwarfmeta::cached_image(bin, {}, cache, &st);
    hit_ms.push_back(ms_since(t));
    if (!st.hit) std::fprintf(stderr, "meta_bench: expected a cache hit\n");
    image_size = m.size();
    t = Clock::now();
    for (const ttst::dwarfmeta::Global& g : prog.globals) found += m.view().global(g.id.c_str()) != nullptr;
    for (const ttst::dwarfmeta::AllocSite& s : prog.alloc_sites) found += m.view().alloc_site(s.return_addr) != nullptr;
    lookup_ms.push_back(ms_since(t));
    t = Clock::now();
    ttst::dwarfmeta::Program p = ttst::dwarfmeta::load_cached(bin, {}, cache, &st);
    cached_ms.push_back(ms_since(t));
  }
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("\nprogram: %llu DIEs, %zu types after dedup, %zu globals, %zu functions, %zu alloc sites, "
              "binary %llu KiB, image %llu KiB\n",
              static_cast<unsigned long long>(prog.die_count), prog.types.size(), prog.globals.size(),
              prog.functions.size(), prog.alloc_sites.size(),
              static_cast<unsigned long long>(std::filesystem::file_size(bin) / 1024),
              static_cast<unsigned long long>(image_size / 1024));
  std::printf("median of %d runs:\n", kRuns);
  double l = med(load_ms), h = med(hit_ms);
  std::printf("  extraction  ttst::dwarfmeta::load            %8.1f ms   goal < 500 ms  %s\n", l, l < 500 ? "met" : "MISSED");
  std::printf("              (CPU time of the same runs  %8.1f ms; load average %s)\n", med(load_cpu_ms),
              load_average().c_str());
  std::printf("  write_image                            %8.1f ms\n", med(write_ms));
  std::printf("  cache hit   cached_image (map+verify)  %8.2f ms   goal < 10 ms   %s\n", h, h < 10 ? "met" : "MISSED");
  std::printf("  %zu lookups in place (globals by ID, sites by return address) %.2f ms (%ld found)\n",
              prog.globals.size() + prog.alloc_sites.size(), med(lookup_ms), found / kRuns);
  std::printf("  load_cached (hit + C++ Program rebuilt) %8.2f ms\n", med(cached_ms));
  if (std::getenv("META_BENCH_KEEP"))
    std::printf("kept %s\n", bin.c_str());
  else
    std::filesystem::remove_all(dir);
  return 0;
}
