// advised_fix.cc — see advised_fix.h.
#include "tests/util/advised_fix.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "tests/util/test_util.h"

namespace ttst::testutil {

AdvisedFix advised_fix(const std::string& advice, const std::string& kind) {
  AdvisedFix fix;
  const std::string head = "add TTST_" + kind;
  for (size_t at = advice.find(head); at != std::string::npos; at = advice.find(head, at + 1)) {
    const size_t end = advice.find(");", at);
    const size_t env = advice.find("TTST_ANNOTATIONS=\"", at);
    if (end == std::string::npos || env == std::string::npos) break;
    const size_t env_end = advice.find('"', env + 18);
    if (env_end == std::string::npos) break;
    fix.header_line = advice.substr(at + 4, end + 2 - (at + 4));
    fix.annotations = advice.substr(env + 18, env_end - (env + 18));
    return fix;
  }
  return fix;
}

std::string build_with_fix(const std::string& source, const std::string& flags, const AdvisedFix& fix,
                           bool in_source, const std::string& name) {
  char real[PATH_MAX];
  if (!realpath(source.c_str(), real)) return "";
  const std::string out = tmpdir() + "/" + name, log = tmpdir() + "/" + name + ".log";
  std::string src = real, env;
  if (in_source) {  // the ttst.h line after the program's own text, in a file of the same name (file-static IDs)
    const std::string dir = tmpdir() + "/" + name + ".src";
    run("mkdir -p " + dir);
    src = dir + "/" + std::string(real).substr(std::string(real).rfind('/') + 1);
    std::ofstream(src) << slurp(real) << "\n" << fix.header_line << "\n";
  } else {
    env = "TTST_ANNOTATIONS='" + fix.annotations + "' ";
  }
  const std::string cmd = env + "TTST_REAL_CC=gcc stfw/runtime/ttst/bin/ttst-cc " + flags + " -o " + out + " " + src +
                          " >" + log + " 2>&1";
  const Ran ran = run(cmd);
  std::fprintf(stderr, "%s -> %d\n%s\n", cmd.c_str(), ran.status, slurp(log).c_str());
  return ran.status == 0 ? out : "";
}

}  // namespace ttst::testutil
