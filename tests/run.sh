#!/usr/bin/env bash
# The README's test command: installs what is missing, builds everything with Bazel
# (offline), runs every test, and ends with one line "N passed, N failed" where N
# counts doctest test cases across all test binaries. Exits non-zero on any failure.
# Extra arguments go to `bazel test` (for example --config=asan).
set -uo pipefail
cd "$(dirname "$0")/.."

bash third_party/setup.sh || exit 2

bazel build //... || { echo "0 passed, 1 failed"; exit 1; }
bazel test //... "$@"
bazel_rc=$?

passed=0
failed=0
while IFS= read -r -d '' log; do
  [[ -f "$log" ]] || { echo "no log for ${log#bazel-testlogs/} (not run)" >&2; failed=$((failed + 1)); continue; }
  line=$(grep -a '^\[doctest\] test cases:' "$log" | tail -n 1)
  if [[ -n "$line" ]]; then
    p=$(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")
    passed=$((passed + p))
    failed=$((failed + f))
  else
    # A test binary that crashed or timed out before doctest's summary.
    echo "no doctest summary in ${log#bazel-testlogs/} (crashed or timed out)" >&2
    failed=$((failed + 1))
  fi
done < <(bazel query --noshow_progress 'tests(//...)' 2>/dev/null |
           sed -E 's#^//##; s#:#/#; s#^(.*)$#bazel-testlogs/\1/test.log#' | tr '\n' '\0')

if [[ $bazel_rc -ne 0 && $failed -eq 0 ]]; then
  failed=1   # bazel failed for a reason the logs do not show
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $bazel_rc -eq 0 ]]
