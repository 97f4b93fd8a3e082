#!/usr/bin/env python3
"""count_test_results.py — the "N passed, N failed" of one `bazel test` invocation.

Why: tests/run.sh must count exactly the tests that this invocation ran (or found
up to date in the cache), not every test.log left in bazel-testlogs by earlier runs
of other targets. Bazel's build event stream (--build_event_json_file) names them:
one testSummary per test target, one testResult per run, shard and attempt with
its log.

Usage: count_test_results.py BUILD_EVENTS.json
Prints one line "N passed, N failed" where N counts doctest test cases (the last
"[doctest] test cases:" line of each log); a test that ran but has no such line
(crashed, timed out) or did not run at all (failed to build) counts as one failure
and is named on stderr. For every log with a failure, its doctest failure lines
(the test case, the check, its values and messages) go to stderr too, at most 40
per log: CI keeps only this script's output, not bazel-testlogs. Exits 0 when
nothing failed.
"""
import json
import re
import sys
from urllib.parse import unquote, urlparse

DOCTEST = re.compile(r"^\[doctest\] test cases:.*?(\d+) passed.*?(\d+) failed", re.M)
FAILURE_LINE = re.compile(r"TEST CASE:|ERROR:|FATAL|values:|logged:|SIG[A-Z]+|Aborted|TIMEOUT")
EXCERPT_LINES = 40


def excerpt(label, text):
    """The failure lines of one log, on stderr."""
    lines = [line.rstrip()[:400] for line in text.splitlines() if FAILURE_LINE.search(line)]
    if not lines:
        lines = [line.rstrip()[:400] for line in text.splitlines()[-15:]]
    print(f"--- {label}: {len(lines)} failure line(s)" + (f", first {EXCERPT_LINES}" if len(lines) > EXCERPT_LINES else ""),
          file=sys.stderr)
    for line in lines[:EXCERPT_LINES]:
        print(f"    {line}", file=sys.stderr)


def read_events(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def log_of(result):
    for out in result.get("testActionOutput", []):
        if out.get("name") == "test.log":
            return unquote(urlparse(out["uri"]).path)
    return None


def main(path):
    targets = []  # in the order Bazel reports them
    last_attempt = {}  # (label, run, shard) -> (attempt, log)
    for event in read_events(path):
        ident = event.get("id", {})
        if "testSummary" in ident:
            targets.append(ident["testSummary"]["label"])
        elif "testResult" in ident:
            r = ident["testResult"]
            key = (r["label"], r.get("run", 1), r.get("shard", 1))
            attempt = r.get("attempt", 1)
            if key not in last_attempt or attempt >= last_attempt[key][0]:
                last_attempt[key] = (attempt, log_of(event.get("testResult", {})))
    passed = failed = 0
    for label in targets:
        logs = [log for (lab, _, _), (_, log) in sorted(last_attempt.items()) if lab == label]
        if not logs:
            print(f"{label}: did not run (failed to build?)", file=sys.stderr)
            failed += 1
        for log in logs:
            try:
                with open(log, encoding="utf-8", errors="replace") as f:
                    text = f.read()
            except (OSError, TypeError):
                text = ""
            summaries = DOCTEST.findall(text)
            if not summaries:
                print(f"{label}: no doctest summary in {log} (crashed or timed out)", file=sys.stderr)
                excerpt(label, text)
                failed += 1
                continue
            p, f_ = summaries[-1]
            if int(f_):
                excerpt(label, text)
            passed += int(p)
            failed += int(f_)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
