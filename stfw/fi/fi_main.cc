// fi_main.cc — ttst-fi: the fault-injection campaign (stfw/fi/README.md).
//   ttst-fi run   --old V1 --new V2 --xfer PLUGIN --xfer-source X.c --build-xfer CMD
//                 [--new-source V2.c --build-new CMD --startup-functions f,g]
//                 --start CMD --workload CMD --oracle CMD --out DIR [--jobs N] ...
//   ttst-fi table DIR      (the Figure 6 table and charts from DIR/results.jsonl)
// Exit: 0 done, 2 bad input, 4 the unmutated update itself does not pass.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <spdlog/spdlog.h>
#include <thread>

#include "stfw/fi/campaign.h"
#include "stfw/fi/figure.h"

namespace {

std::set<std::string> split(const std::string &s) {
  std::set<std::string> out;
  size_t b = 0;
  while (b < s.size()) {
    size_t e = s.find(',', b);
    if (e == std::string::npos) e = s.size();
    if (e > b) out.insert(s.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

std::string supervise_next_to_self() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  for (const char *rel : {"../../supervisor/ttst-supervise", "ttst-supervise"}) {
    std::filesystem::path p = self.parent_path() / rel;
    if (std::filesystem::exists(p, ec)) return std::filesystem::canonical(p, ec).string();
  }
  return "ttst-supervise";
}

void add_run_options(CLI::App *run, ttst::fi::Config &c, std::string &ops, std::string &startup,
                     std::string &xfer_fns, long &timeout_ms) {
  run->add_option("--old", c.old_exe, "v1, the running version's executable")->required()->check(CLI::ExistingFile);
  run->add_option("--new", c.new_exe, "v2, the new version's executable")->required()->check(CLI::ExistingFile);
  run->add_option("--xfer", c.xfer, "the transfer plugin, built (ttst-cc --xfer-plugin)")->check(CLI::ExistingFile);
  run->add_option("--xfer-source", c.xfer_source, "the plugin's C file, to mutate")->check(CLI::ExistingFile);
  run->add_option("--build-xfer", c.build_xfer, "command building a plugin: {src} -> {out}");
  run->add_option("--new-source", c.new_source, "v2's C file holding its start-up, to mutate")
      ->check(CLI::ExistingFile);
  run->add_option("--build-new", c.build_new, "command building v2: {src} -> {out}");
  run->add_option("--startup-functions", startup, "v2's start-up functions to mutate (comma-separated)");
  run->add_option("--xfer-functions", xfer_fns, "the plugin's functions to mutate (default: all)");
  run->add_option("--start", c.start, "command starting v1 on {port} ({old}: its executable)")->required();
  run->add_option("--workload", c.workload, "command loading v1's state ({port})")->required();
  run->add_option("--oracle", c.oracle, "command printing the program's state ({port}): a dump or checksum")
      ->required();
  run->add_option("--out", c.out, "campaign directory: results.jsonl (resumable), charts, kept attempts")
      ->required();
  run->add_option("--jobs", c.jobs, "parallel attempts (default: the number of cores)");
  run->add_option("--max-mutants", c.max_mutants, "stop after this many activated mutants (default 500)");
  run->add_option("--variants", c.variants, "random variants per pointer/overflow site (default 1)");
  run->add_option("--seed", c.seed, "the mutants' order and random values (default 1)");
  run->add_option("--operators", ops, "comma-separated fault types (default: all but control)");
  run->add_option("--select", c.select, "regex over 'id description': only matching mutants");
  run->add_option("--timeout-ms", timeout_ms, "ttst-supervise --timeout per attempt (default 5000)");
  run->add_option("--supervise", c.supervise, "the ttst-supervise executable (default: next to ttst-fi)");
  run->add_option("--supervise-args", c.supervise_args, "extra ttst-supervise arguments for every attempt");
  run->add_flag("--keep", c.keep, "keep every attempt's directory (default: only UNDETECTED and failures)");
}

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{"ttst-fi: fault injection into transfer code and start-up, classified by ttst-supervise"};
  app.require_subcommand(1);
  ttst::fi::Config c;
  c.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string ops, startup, xfer_fns, table_dir;
  long timeout_ms = 5000;
  bool list = false;
  CLI::App *run = app.add_subcommand("run", "run (or resume) a campaign, then print its table");
  add_run_options(run, c, ops, startup, xfer_fns, timeout_ms);
  run->add_flag("--list", list, "list the mutants in campaign order and exit");
  CLI::App *table = app.add_subcommand("table", "print the Figure 6 table and draw its charts");
  table->add_option("dir", table_dir, "a campaign directory")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (table->parsed()) return ttst::fi::print_figure(table_dir);
  c.operators = split(ops), c.startup_functions = split(startup), c.xfer_functions = split(xfer_fns);
  c.timeout = std::chrono::milliseconds(timeout_ms);
  if (c.supervise.empty()) c.supervise = supervise_next_to_self();
  if ((!c.xfer_source.empty() && c.build_xfer.empty()) || (!c.new_source.empty() && c.build_new.empty())) {
    spdlog::error("ttst-fi: a source to mutate needs its build command (--build-xfer / --build-new)");
    return 2;
  }
  if (c.xfer_source.empty() && c.new_source.empty()) {
    spdlog::error("ttst-fi: nothing to mutate: give --xfer-source and/or --new-source");
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(c.out, ec);
  c.out = std::filesystem::absolute(c.out, ec).string();
  c.old_exe = std::filesystem::absolute(c.old_exe, ec).string();
  c.new_exe = std::filesystem::absolute(c.new_exe, ec).string();
  if (!c.xfer.empty()) c.xfer = std::filesystem::absolute(c.xfer, ec).string();
  int rc = ttst::fi::run_campaign(c, list);
  if (rc != 0 || list) return rc;
  return ttst::fi::print_figure(c.out);
}
