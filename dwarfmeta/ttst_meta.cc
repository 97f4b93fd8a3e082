// ttst_meta.cc — the `ttst-meta` command: inspect the state metadata of a binary
// (`dump`), the v1->v2 update plan (`plan`), the flat metadata image (`image`), and
// what user transfer code is written against (`xfer-skeleton`: xfer_header.h).
// Metadata comes through the build-id cache (cache.h) unless --no-cache.
// Exit status: 0 ok (plan: everything automatic), 3 plan needs user transfer code,
// 2 unusable input (one line on stderr saying what to do), 1 usage error.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include "dwarfmeta/cache.h"
#include "dwarfmeta/dump.h"
#include "dwarfmeta/image_writer.h"
#include "dwarfmeta/load.h"
#include "dwarfmeta/plan.h"
#include "dwarfmeta/xfer_header.h"

namespace {

// xfer-skeleton: DIR/ttst_xfer_types.h (always rewritten: it follows the binaries)
// and DIR/xfer.c (only when absent, or --force: it holds the user's code).
int write_skeleton(const ttst::dwarfmeta::Program& p1, const ttst::dwarfmeta::Program& p2, const std::string& dir,
                   bool header_only, bool force) {
  const std::string header = dir + "/ttst_xfer_types.h", source = dir + "/xfer.c";
  std::ofstream h(header, std::ios::trunc);
  h << ttst::dwarfmeta::xfer_types_header(p1, p2);
  if (!h) {
    std::cerr << "ttst-meta: cannot write " << header << ": check that the directory exists and is writable\n";
    return 2;
  }
  std::cout << "wrote " << header << "\n";
  if (header_only) return 0;
  if (!force && std::ifstream(source)) {
    std::cout << "kept " << source << " (it exists; --force overwrites it)\n";
    return 0;
  }
  int needed = 0;
  std::ofstream c(source, std::ios::trunc);
  c << ttst::dwarfmeta::xfer_skeleton(ttst::dwarfmeta::make_plan(p1, p2), p1, p2, "ttst_xfer_types.h", &needed);
  if (!c) {
    std::cerr << "ttst-meta: cannot write " << source << ": check the directory and free space\n";
    return 2;
  }
  std::cout << "wrote " << source << ": " << needed << " functions to fill in"
            << (needed ? "" : " (the plan needs no user code)") << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ttst-meta: state metadata of C programs built with -g (DWARF)"};
  app.require_subcommand(1);
  std::string bin, v1, v2, out;
  bool json = false, all = false, no_cache = false;
  app.add_flag("--no-cache", no_cache, "read DWARF again instead of using the build-id cache");

  CLI::App* dump = app.add_subcommand("dump", "print the state metadata of BIN (pahole-like; --json for tools)");
  dump->add_option("BIN", bin, "ELF executable built with -g")->required();
  dump->add_flag("--json", json, "machine-readable output");

  CLI::App* plan = app.add_subcommand("plan", "classify every state object of V1 -> V2 (exit 3: needs user code)");
  plan->add_option("V1", v1, "the running version's executable")->required();
  plan->add_option("V2", v2, "the new version's executable")->required();
  plan->add_flag("--json", json, "machine-readable output: {\"objects\": [...]}");
  plan->add_flag("--all", all, "also list unchanged objects");

  std::string dir = ".";
  bool header_only = false, force = false;
  CLI::App* skeleton = app.add_subcommand(
      "xfer-skeleton", "write the types of both versions (ttst_xfer_types.h) and a transfer plugin skeleton (xfer.c)");
  skeleton->add_option("V1", v1, "the running version's executable")->required();
  skeleton->add_option("V2", v2, "the new version's executable")->required();
  skeleton->add_option("--out", dir, "the directory to write into (default .)");
  skeleton->add_flag("--header-only", header_only, "write ttst_xfer_types.h only");
  skeleton->add_flag("--force", force, "overwrite an existing xfer.c");

  CLI::App* image = app.add_subcommand("image", "write the flat metadata image of BIN (default: print its cache file)");
  image->add_option("BIN", bin, "ELF executable built with -g")->required();
  image->add_option("-o,--output", out, "write the image to this file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  auto get = [&](const std::string& path) {
    return no_cache ? ttst::dwarfmeta::load(path) : ttst::dwarfmeta::load_cached(path);
  };
  try {
    if (*dump) {
      ttst::dwarfmeta::Program p = get(bin);
      if (json)
        std::cout << ttst::dwarfmeta::to_json(p).dump(1) << "\n";
      else
        ttst::dwarfmeta::dump_text(p, std::cout);
    } else if (*plan) {
      ttst::dwarfmeta::Plan pl = ttst::dwarfmeta::make_plan(get(v1), get(v2));
      if (json)
        std::cout << ttst::dwarfmeta::to_json(pl).dump(1) << "\n";
      else
        ttst::dwarfmeta::print_plan(pl, std::cout, all);
      return pl.needs_user_code() ? 3 : 0;
    } else if (*skeleton) {
      return write_skeleton(get(v1), get(v2), dir, header_only, force);
    } else if (*image) {
      if (out.empty()) {
        ttst::dwarfmeta::CacheStats st;
        ttst::dwarfmeta::MappedImage m = ttst::dwarfmeta::cached_image(bin, {}, "", &st);
        if (st.file.empty()) {
          std::cerr << "ttst-meta: " << bin << " has no build-id, so its image is not cached: use -o FILE\n";
          return 2;
        }
        std::cout << st.file << "\n";
      } else {
        std::vector<uint8_t> bytes = ttst::dwarfmeta::write_image(ttst::dwarfmeta::load(bin));
        std::ofstream f(out, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        if (!f) {
          std::cerr << "ttst-meta: cannot write " << out << ": check the directory and free space\n";
          return 2;
        }
      }
    }
  } catch (const ttst::dwarfmeta::Error& e) {
    std::cerr << "ttst-meta: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
