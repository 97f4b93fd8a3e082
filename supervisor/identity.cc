// identity.cc — see identity.h.
#include "supervisor/identity.h"

#include <set>
#include <vector>

namespace ttst::supervisor {
namespace {

constexpr const char* kRuntimePrefix = "__ttst_";

struct OwnNames {
  std::set<std::string> all;                   // "file x.c", "function f", "global g"
  std::vector<std::string> files;              // for the message, sorted
};

OwnNames own_names(const dwarfmeta::Program& p) {
  std::set<std::string> runtime_files;  // translation units of the ttst runtime
  for (const auto& f : p.functions)
    if (f.name.rfind(kRuntimePrefix, 0) == 0) runtime_files.insert(f.file);
  for (const auto& g : p.globals)
    if (g.name.rfind(kRuntimePrefix, 0) == 0) runtime_files.insert(g.file);
  auto own = [&](const std::string& file) { return !file.empty() && !runtime_files.count(file); };
  OwnNames n;
  std::set<std::string> files;
  for (const auto& f : p.functions)
    if (own(f.file)) {
      files.insert(f.file);
      if (f.name != "main") n.all.insert("function " + f.name);
    }
  for (const auto& g : p.globals)
    if (own(g.file)) {
      files.insert(g.file);
      n.all.insert("global " + (g.function.empty() ? g.name : g.function + "::" + g.name));
    }
  for (const auto& f : files) n.all.insert("file " + f);
  n.files.assign(files.begin(), files.end());
  return n;
}

// "a.c, b.c, c.c and 4 more"
std::string list(const std::vector<std::string>& v) {
  if (v.empty()) return "none";
  std::string s;
  for (size_t i = 0; i < v.size() && i < 3; i++) s += (i ? ", " : "") + v[i];
  if (v.size() > 3) s += " and " + std::to_string(v.size() - 3) + " more";
  return s;
}

}  // namespace

Identity compare_identity(const dwarfmeta::Program& running, const dwarfmeta::Program& next) {
  OwnNames a = own_names(running), b = own_names(next);
  Identity id;
  id.running = a.all.size();
  id.next = b.all.size();
  std::vector<std::string> gone;  // the running program's names the new version lacks
  for (const auto& n : a.all) {
    if (b.all.count(n)) id.shared++;
    else gone.push_back(n);
  }
  // shared / total >= 1/2 on both sides (an empty side shares nothing).
  id.same = id.running && id.next && 2 * id.shared >= id.running && 2 * id.shared >= id.next;
  id.message = "it shares " + std::to_string(id.shared) + " of the running program's " + std::to_string(id.running) +
               " source files, functions and globals and " + std::to_string(id.shared) + " of its own " +
               std::to_string(id.next) + " (running: " + list(a.files) + "; new: " + list(b.files) +
               (id.same ? "" : "; not in the new version: " + list(gone)) + ")";
  id.message = (id.same ? "the new version is a version of the running program: "
                        : "the new version is not a version of the running program: ") + id.message;
  return id;
}

}  // namespace ttst::supervisor
