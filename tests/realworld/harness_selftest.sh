#!/usr/bin/env bash
# harness_selftest.sh — the real-server harness's own sanity (run.sh is not a Bazel
# test: it needs the corpus and minutes): every module compiles, run.sh and
# .ci/run parse, the data set covers every 5 % size step up to the 1 MB item
# limit, and run.sh without a corpus says so in one line and exits 2.
set -euo pipefail
dir=$(dirname "$0")
python3 - "$dir/harness" <<'PY'
import os, py_compile, sys
sys.path.insert(0, sys.argv[1])
for f in sorted(os.listdir(sys.argv[1])):
    if f.endswith(".py"):
        py_compile.compile(os.path.join(sys.argv[1], f), doraise=True)
import mcclient
items = mcclient.data_set()
assert len(items) == 50000 and len({k for k, _, _ in items}) == 50000
sizes = sorted(len(v) for _, _, v in items)
assert sizes[0] == 1 and sizes[-1] == 1024 * 1024 - 512, (sizes[0], sizes[-1])
big = sorted(s for s in sizes if s >= 2048)
assert all(b / a <= 1.06 for a, b in zip(big, big[1:])), "a gap in the size sweep"
assert mcclient.slab_classes("slab class   1: chunk size     88 perslab 11915\nslab class   2: chunk size 112 perslab 9362\n") == [88, 112]
print("harness modules ok")
PY
bash -n "$dir/run.sh"
out=$(bash "$dir/run.sh" /nonexistent/corpus 2>&1) && rc=0 || rc=$?
[ "$rc" = 2 ] || { echo "run.sh without a corpus exited $rc: $out"; exit 1; }
echo "$out" | grep -q "no corpus directory /nonexistent/corpus" || { echo "unexpected: $out"; exit 1; }
echo "$out" | tail -1 | grep -qx "0 passed, 1 failed" || { echo "unexpected: $out"; exit 1; }
echo "run.sh without a corpus: exit 2, one line"
# tests/run.sh counts doctest's summary line (tests/count_test_results.py): the two
# cases above, in its format.
echo "[doctest] test cases: 2 | 2 passed | 0 failed | 0 skipped"
