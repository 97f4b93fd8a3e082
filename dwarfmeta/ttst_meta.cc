// ttst_meta.cc — the `ttst-meta` command: inspect the state metadata of a binary
// (`dump`) and the v1->v2 update plan (`plan`).
// Exit status: 0 ok (plan: everything automatic), 3 plan needs user transfer code,
// 2 unusable input (one line on stderr saying what to do), 1 usage error.
#include <CLI/CLI.hpp>
#include <iostream>

#include "dwarfmeta/dump.h"
#include "dwarfmeta/load.h"

int main(int argc, char** argv) {
  CLI::App app{"ttst-meta: state metadata of C programs built with -g (DWARF)"};
  app.require_subcommand(1);
  std::string bin;
  bool json = false;
  CLI::App* dump = app.add_subcommand("dump", "print the state metadata of BIN (pahole-like; --json for tools)");
  dump->add_option("BIN", bin, "ELF executable built with -g")->required();
  dump->add_flag("--json", json, "machine-readable output");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  try {
    if (*dump) {
      dwarfmeta::Program p = dwarfmeta::load(bin);
      if (json)
        std::cout << dwarfmeta::to_json(p).dump(1) << "\n";
      else
        dwarfmeta::dump_text(p, std::cout);
    }
  } catch (const dwarfmeta::Error& e) {
    std::cerr << "ttst-meta: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
