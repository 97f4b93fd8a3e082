// identity.h — is the new version a version of the running program at all? TRUSTED.
//
// Without this check an unrelated program built with ttst-cc, given to --new by
// mistake, commits over a server with little state ("nothing to transfer"): the
// service is gone, replaced by something else. Both binaries' metadata (dwarfmeta
// Program, read anyway for the plan) says what each program is made of.
//
// The rule. A program's *own names* are its source files (the translation units'
// basenames), its functions and its globals, each kind counted apart, leaving out
// what every ttst program has: the ttst runtime (every translation unit defining an
// `__ttst_` symbol, the ABI's reserved prefix), code without DWARF (crt files), and
// `main`. The new version is a version of the running program when at least half
// of the running program's own names are in the new version AND at least half of
// the new version's own names are in the running program: most of what ran goes on,
// and most of what will run was there before. Consecutive releases pass easily
// (memcached 1.2.2→1.2.3 135 of 135 shared, 1.2.3→1.2.4 132 of 135 and of 144,
// 1.6.38→1.6.39 760 of 760 and of 761, nginx 1.26.x 1961 of 1961, kvserver v1→v2 all
// 21); unrelated programs share next to nothing (memcached↔nginx none, kvserver↔
// another test program a name or two at most). A release that more than doubles
// the program, or rewrites most of it, is refused as well: the message says how
// much they share, and --allow-different-program overrides the rule.
//
// Types are not counted: a program's types include every type its libc headers
// declare (struct stat, FILE...), the same in every C program.
#pragma once

#include <cstddef>
#include <string>

#include "dwarfmeta/model.h"

namespace ttst::supervisor {

struct Identity {
  bool same = false;        // the rule above holds
  size_t shared = 0;        // own names in both
  size_t running = 0;       // own names of the running program
  size_t next = 0;          // own names of the new version
  std::string message;      // one line: what they share, what differs
};

Identity compare_identity(const dwarfmeta::Program& running, const dwarfmeta::Program& next);

}  // namespace ttst::supervisor
