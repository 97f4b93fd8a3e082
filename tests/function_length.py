#!/usr/bin/env python3
"""function_length.py — no function outside tests is longer than 100 lines.

Why: long functions hide their steps (issue 16); the limit keeps each one a page a
reviewer reads at once. tests/run.sh runs this after every suite.

Every C/C++ source the repository tracks (git ls-files) is scanned, except test
code: files under a tests/ directory or named *_test.cc. A function is a brace
block at namespace, class or extern "C" scope that is not a class, namespace or
initializer (lambdas and blocks inside it belong to it); its length is from the
line of its opening brace to the line of its closing one. Comments, string,
character and raw string literals and preprocessor lines are blanked first, so
their braces do not count. Every function over the limit is printed; one listed in
ALLOWED (each with its reason) is printed as allowed and does not fail the run.
Exits 1 if any other function is over the limit, or if the scanner miscounts its
own sample (a change to it must keep the sample right).
"""
import os
import re
import subprocess
import sys

LIMIT = 100
# (path, function name): why it may stay over the limit for now. Printed on every run.
ALLOWED = {}


def blank(text):
    """Comments, literals and preprocessor lines replaced by spaces (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif re.match(r'R"([^(\s]{0,16})\(', text[i:i + 20]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            delim = re.match(r'R"([^(\s]{0,16})\(', text[i:]).group(1)
            j = text.find(")" + delim + '"', i)
            j = n if j < 0 else j + len(delim) + 2
        elif text[i] in "\"'" and not (text[i] == "'" and i > 0 and text[i - 1].isalnum()):
            j = i + 1
            while j < n and text[j] != text[i] and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j += 1
        elif text[i] == "#" and text[text.rfind("\n", 0, i) + 1:i].strip() == "":
            j = i
            while j < n and text[j] != "\n":
                j += 2 if text.startswith("\\\n", j) else 1
        else:
            out.append(text[i])
            i += 1
            continue
        out.append(re.sub(r"[^\n]", " ", text[i:j]))
        i = j
    return "".join(out)


CONTAINER = re.compile(r'(\b(namespace|class|struct|union|enum)\b[^;(){}=]*|\bextern\s*)$')
NAME = re.compile(r"([~\w:]+(?:operator\s*\S+)?)\s*\([^()]*(?:\([^()]*\)[^()]*)*\)[^()]*$")


def functions(text):
    """(name, first line, last line) of every function body in the text."""
    code = blank(text)
    found, stack, head_start = [], [], 0  # stack: (kind, offset, head, the head's start)
    for i, c in enumerate(code):
        if c in ";":
            head_start = i + 1
        elif c == "{":
            head = " ".join(code[head_start:i].split())
            in_function = any(entry[0] == "function" for entry in stack)
            if in_function:
                kind = "block"
            elif CONTAINER.search(head):
                kind = "container"
            elif re.search(r"\)\s*(noexcept\s*)?:(?!:)", head) and re.search(r"\w$", head):
                kind = "data"  # a member's brace initializer in a constructor's init list
            elif head == "" or head[-1] in "=,([{" or head.endswith("return") or not head.endswith(
                    (")", "const", "noexcept", "override", "final", "mutable")) and "->" not in head and ")" not in head:
                kind = "data"
            else:
                kind = "function"
            stack.append((kind, i, head, head_start))
            head_start = i + 1
        elif c == "}":
            if stack:
                kind, start, head, outer_head_start = stack.pop()
                if kind == "function":
                    m = NAME.search(head.split(" : ")[0] if " : " in head else head)
                    name = m.group(1).split("::")[-1] if m else head[-40:]
                    found.append((name, code.count("\n", 0, start) + 1, code.count("\n", 0, i) + 1))
                if kind == "data":
                    head_start = outer_head_start  # an initializer: its declaration's head goes on
                    continue
            head_start = i + 1
    return found


SAMPLE = r'''
/* { not a brace } */ // { nor this
namespace a { extern "C" {
static int c_function(int x) {
  const char* s = "}}}"; char q = '}'; const char* r = R"x(}})x";
  int table[] = {1, 2, 3};
  auto lambda = [&](int y) { return y; };
  if (x) { return lambda(x); }
#define BRACE {
  return table[0] + s[0] + q + r[0];
}
}
struct S {
  S() : a_{1}, b_(2) {
    a_ = 3;
  }
  int get() const { return a_; }
  int a_, b_;
  static constexpr int kTable[] = {4, 5};
};
}  // namespace a
'''
SAMPLE_EXPECTED = [("c_function", 4, 11), ("S", 14, 16), ("get", 17, 17)]


def is_test(path):
    return "/tests/" in "/" + path or path.endswith("_test.cc")


def sources():
    """The tracked C/C++ sources (git ls-files), or without git every one on disk
    outside Bazel's output links."""
    patterns = ["*.c", "*.cc", "*.cpp", "*.h"]
    try:
        return subprocess.run(["git", "ls-files"] + patterns, check=True, capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        found = []
        for root, dirs, names in os.walk("."):
            dirs[:] = sorted(d for d in dirs if not d.startswith(("bazel-", ".")))
            found += [os.path.join(root, n)[2:] for n in sorted(names) if n.endswith((".c", ".cc", ".cpp", ".h"))]
        return found


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    got = functions(SAMPLE)
    if got != SAMPLE_EXPECTED:
        print("function_length.py: the scanner miscounts its sample:", got, file=sys.stderr)
        return 1
    files = sources()
    over, allowed, scanned = [], [], 0
    for path in files:
        if is_test(path) or path.startswith("third_party/"):
            continue
        scanned += 1
        with open(path, errors="replace") as f:
            for name, first, last in functions(f.read()):
                if last - first + 1 > LIMIT:
                    entry = (path, name)
                    (allowed if entry in ALLOWED else over).append((last - first + 1, path, first, name))
    print(f"functions over {LIMIT} lines outside tests ({scanned} files scanned):")
    for length, path, line, name in sorted(over, reverse=True):
        print(f"  {path}:{line} {name}: {length} lines")
    for length, path, line, name in sorted(allowed, reverse=True):
        print(f"  allowed: {path}:{line} {name}: {length} lines ({ALLOWED[(path, name)]})")
    for path, name in sorted(set(ALLOWED) - {(p, n) for _, p, _, n in allowed}):
        print(f"  note: {path} {name} is within the limit now: remove it from ALLOWED")
    if not over and not allowed:
        print("  none")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
