#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with Bazel (offline),
# runs the tests, prints the size of the trusted code (tests/rcb_count.sh) and the
# functions over 100 lines outside tests (tests/function_length.py, which fails the
# run when one is not on its printed allow-list), and
# ends with one line "N passed, N failed" where N counts doctest test cases of the
# tests this invocation ran (tests/count_test_results.py). Exits non-zero on any
# failure.
#
#   bash tests/run.sh                         every test
#   bash tests/run.sh //inject/... //diff/... only these targets (counted alone)
#   bash tests/run.sh --config=asan           flags go to both bazel build and test
#
# Arguments starting with // (or -// to exclude) are target patterns; any other
# argument is a flag for Bazel, written --flag=value.
# When the build fails no test runs: it says "build failed", and the last line is
# "0 passed, 1 failed" (exit 1): the failed build counts as the one failure, so a
# reader of the last line alone never mistakes a broken tree for a green one.
set -uo pipefail
cd "$(dirname "$0")/.."

bash third_party/setup.sh || exit 2

flags=()
targets=()
for arg in "$@"; do
  case $arg in
    //* | -//* | @*) targets+=("$arg") ;;
    *) flags+=("$arg") ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(//...)

if ! bazel build "${flags[@]}" -- "${targets[@]}"; then
  echo "build failed: no test ran"
  echo "0 passed, 1 failed"
  exit 1
fi

events=$(mktemp -t ttst-test-events.XXXXXX.json)
trap 'rm -f "$events"' EXIT
bazel test "${flags[@]}" --build_event_json_file="$events" -- "${targets[@]}"
bazel_rc=$?

bash tests/rcb_count.sh
rcb_rc=$?

python3 tests/function_length.py
length_rc=$?

counts=$(python3 tests/count_test_results.py "$events")
counts_rc=$?
read -r passed _ failed _ <<<"$counts"
if [[ ! $passed =~ ^[0-9]+$ || ! $failed =~ ^[0-9]+$ ]]; then
  echo "cannot count the test results: $counts" >&2
  passed=0 failed=1
fi
if [[ $failed -eq 0 && ($bazel_rc -ne 0 || $rcb_rc -ne 0 || $length_rc -ne 0 || $counts_rc -ne 0) ]]; then
  failed=1  # bazel, the RCB count or the length audit failed for a reason the test logs do not show
fi
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $bazel_rc -eq 0 && $rcb_rc -eq 0 && $length_rc -eq 0 ]]
