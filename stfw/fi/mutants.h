// mutants.h — ttst-fi's mutation operators: from a C file and the functions to
// mutate, every mutant (one fault at one site) with its activation probe.
// Operators (stfw/fi/README.md has the table): branch_flip, uninit, pointer,
// off_by_one, overflow, field_skip, field_wrong, and control (a no-op rewrite,
// for checking the campaign itself). A mutant is one textual edit; its probe is
// the same site with a trap (`ud2`, SIGILL) placed where the fault would execute:
// the unmutated program runs identically up to the site's first execution, so a
// probe run that traps proves the mutant's fault is executed (activation).
#ifndef TTST_STFW_FI_MUTANTS_H
#define TTST_STFW_FI_MUTANTS_H

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace ttst::fi {

struct Edit {
  size_t begin = 0, end = 0;  // the replaced range of the source
  std::string text;
};

struct Mutant {
  std::string id;        // stable: TARGET.FUNCTION.OP.N
  std::string target;    // "xfer" (the transfer plugin) or "new" (v2's start-up)
  std::string fault;     // the operator (fault type)
  std::string function;  // where
  int line = 0;
  std::string description;  // "`before` -> `after`"
  Edit edit, probe;
  std::string site;  // the probe's identity: mutants sharing it share activation
};

struct MutationInput {
  std::string target;                  // "xfer" or "new"
  std::string source;                  // the C file's text
  std::set<std::string> functions;     // empty: every function defined in the file
  std::set<std::string> transfer_calls;  // calls whose statement is a transfer (field_skip)
  int variants = 1;                    // random variants of pointer/overflow faults
  uint64_t seed = 1;
};

std::vector<Mutant> generate_mutants(const MutationInput &in);
// The source with one edit applied.
std::string apply(const std::string &source, const Edit &edit);

// The operators, in table order.
const std::vector<std::string> &fault_types();

}  // namespace ttst::fi

#endif  // TTST_STFW_FI_MUTANTS_H
