#!/usr/bin/env bash
# rcb_count.sh — the size of the trusted code (the RCB: what must be correct for an
# update to be safe), in non-blank, non-comment lines of C and C++, per part and in
# total. tests/run.sh prints it after every run, so growth of the trusted core is
# visible in every change; the README quotes the total.
# Not counted: tests, benchmarks, test support, developer tools, and the UNTRUSTED
# code (inject/agent/, stfw/xfer/, dwarfmeta/ which only the trusted code's inputs
# come from). Exits non-zero if the counter miscounts its own sample or a part is
# empty (a moved folder must be re-listed here, not silently dropped).
set -euo pipefail
cd "$(dirname "$0")/.."

# part name, then the files of the part (find expressions relative to the root).
parts() {
  files "supervisor" supervisor -maxdepth 1
  files "supervisor/quiesce" supervisor/quiesce
  files "inject (host side)" inject -maxdepth 1
  files "inject/sys" inject/sys -maxdepth 1
  files "diff" diff -maxdepth 1
  files "stfw/runtime" stfw/runtime -maxdepth 1
  files "stfw/abi" stfw/abi
}

# Prints "name<TAB>file" for every C/C++ source of `dir` that is not a test.
files() {
  local name=$1 dir=$2
  shift 2
  find "$dir" "$@" -type f \( -name '*.c' -o -name '*.cc' -o -name '*.h' \) \
      ! -name '*_test.cc' ! -path '*/tests/*' ! -path '*/bench/*' ! -path '*/testing/*' |
    LC_ALL=C sort | sed "s|^|$name\t|"
}

parts | python3 -c '
import sys

def code_lines(text):
    """Lines holding something other than blanks and comments (// and /* */),
    ignoring comment markers inside string, character and raw string literals."""
    count, i, n = 0, 0, len(text)
    line_has_code, state, raw_end = False, "code", ""
    while i < n:
        c = text[i]
        if c == "\n":
            count += line_has_code
            line_has_code = False
            if state == "line":
                state = "code"
            i += 1
            continue
        if state == "line":
            i += 1
        elif state == "block":
            if text.startswith("*/", i):
                state, i = "code", i + 2
            else:
                i += 1
        elif state == "raw":
            line_has_code = True
            if text.startswith(raw_end, i):
                state, i = "code", i + len(raw_end)
            else:
                i += 1
        elif state in ("str", "chr"):
            line_has_code = True
            quote = "\"" if state == "str" else "\x27"
            if c == "\\":
                i += 2
            else:
                if c == quote:
                    state = "code"
                i += 1
        elif text.startswith("//", i):
            state, i = "line", i + 2
        elif text.startswith("/*", i):
            state, i = "block", i + 2
        elif c == "R" and text.startswith("\"", i + 1) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            paren = text.index("(", i + 2)
            raw_end = ")" + text[i + 2:paren] + "\""
            state, i, line_has_code = "raw", paren + 1, True
        else:
            if not c.isspace():
                line_has_code = True
            if c == "\"":
                state = "str"
            elif c == "\x27" and not (i and text[i - 1].isalnum()):  # not a digit separator
                state = "chr"
            i += 1
    return count + line_has_code

SAMPLE = """// a comment line
#include <x.h>   /* trailing */

/* a block
   comment */ int a = 1;
const char* s = "not // a comment /* either */";
char q = \x27"\x27; // a quote character
auto r = R"x(raw ")" // inside)x";
    /* only a comment */
int b = 1\x27000;
"""
if code_lines(SAMPLE) != 6:
    sys.exit("rcb_count.sh: the counter miscounts its own sample (%d, not 6)" % code_lines(SAMPLE))

totals, order = {}, []
for entry in sys.stdin.read().splitlines():
    name, path = entry.split("\t")
    if name not in totals:
        totals[name] = 0
        order.append(name)
    with open(path, encoding="utf-8") as f:
        totals[name] += code_lines(f.read())
expected = ["supervisor", "supervisor/quiesce", "inject (host side)", "inject/sys", "diff",
            "stfw/runtime", "stfw/abi"]
missing = [p for p in expected if not totals.get(p)]
if missing:
    sys.exit("rcb_count.sh: no code found for " + ", ".join(missing))
print("trusted code (non-blank, non-comment lines of C/C++):")
for name in order:
    print("  %-20s %6d" % (name, totals[name]))
print("  %-20s %6d" % ("total", sum(totals.values())))
'
