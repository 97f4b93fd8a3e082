// ttst-report — prints post-mortem reports written by ttst-supervise for people.
//
//   ttst-report show FILE        the human summary of one report
//   ttst-report show --json FILE the report as JSON (validated)
//   ttst-report list [DIR]       one line per report, newest last
//
// Exit status: 0 shown, 2 bad input (missing file, not a ttst report).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "supervisor/report.h"

namespace {

using ttst::supervisor::Report;

Report load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path + ": no such file or not readable");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error(path + " is not a ttst report (not JSON)");
  }
  try {
    return ttst::supervisor::report_from_json(j);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + " is not a ttst report (" + e.what() + ")");
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ttst-report: read the post-mortem reports of ttst-supervise"};
  app.require_subcommand(1);
  std::string file;
  bool as_json = false;
  auto* show = app.add_subcommand("show", "print one report for people");
  show->add_option("FILE", file, "a report (.json) written by ttst-supervise")->required();
  show->add_flag("--json", as_json, "print the validated JSON instead");
  std::string dir = ttst::supervisor::default_report_dir().string();
  auto* list = app.add_subcommand("list", "one line per report in DIR");
  list->add_option("DIR", dir, "report directory")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (show->parsed()) {
      Report r = load(file);
      if (as_json)
        std::cout << ttst::supervisor::to_json(r).dump(2) << "\n";
      else
        std::cout << ttst::supervisor::render_summary(r);
      return 0;
    }
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.path().extension() == ".json") files.push_back(e.path());
    if (ec) {
      std::cerr << "ttst-report: cannot read " << dir << ": " << ec.message() << "\n";
      return 2;
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      try {
        Report r = load(f.string());
        std::printf("%s  %-11s %-15s pid %lld  %s\n", f.filename().c_str(), to_string(r.outcome),
                    r.reason == ttst::supervisor::Reason::kNone ? "-" : to_string(r.reason),
                    static_cast<long long>(r.old_pid), r.message.c_str());
      } catch (const std::exception& e) {
        std::printf("%s  (unreadable: %s)\n", f.filename().c_str(), e.what());
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ttst-report: " << e.what() << "\n";
    return 2;
  }
}
