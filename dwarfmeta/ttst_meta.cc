// ttst_meta.cc — the `ttst-meta` command: inspect the state metadata of a binary
// (`dump`) and the v1->v2 update plan (`plan`).
// Exit status: 0 ok (plan: everything automatic), 3 plan needs user transfer code,
// 2 unusable input (one line on stderr saying what to do), 1 usage error.
#include <CLI/CLI.hpp>
#include <iostream>

#include "dwarfmeta/dump.h"
#include "dwarfmeta/load.h"
#include "dwarfmeta/plan.h"

int main(int argc, char** argv) {
  CLI::App app{"ttst-meta: state metadata of C programs built with -g (DWARF)"};
  app.require_subcommand(1);
  std::string bin;
  bool json = false;
  CLI::App* dump = app.add_subcommand("dump", "print the state metadata of BIN (pahole-like; --json for tools)");
  dump->add_option("BIN", bin, "ELF executable built with -g")->required();
  dump->add_flag("--json", json, "machine-readable output");
  std::string v1, v2;
  bool all = false;
  CLI::App* plan = app.add_subcommand("plan", "classify every state object of V1 -> V2 (exit 3: needs user code)");
  plan->add_option("V1", v1, "the running version's executable")->required();
  plan->add_option("V2", v2, "the new version's executable")->required();
  plan->add_flag("--json", json, "machine-readable output: {\"objects\": [...]}");
  plan->add_flag("--all", all, "also list unchanged objects");
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
    } else if (*plan) {
      dwarfmeta::Plan pl = dwarfmeta::make_plan(dwarfmeta::load(v1), dwarfmeta::load(v2));
      if (json)
        std::cout << dwarfmeta::to_json(pl).dump(1) << "\n";
      else
        dwarfmeta::print_plan(pl, std::cout, all);
      return pl.needs_user_code() ? 3 : 0;
    }
  } catch (const dwarfmeta::Error& e) {
    std::cerr << "ttst-meta: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
