#!/usr/bin/env bash
# run.sh [DIR] — the real-server harness (issue 13). Builds the tools with Bazel
# (offline), then the six releases in DIR (default ../shared/realworld beside the
# workspace: memcached 1.2.2-1.2.4, nginx 1.26.0-1.26.2) with ttst-cc from their
# tarballs and the project's patches (<program>/<program>-<version>.patch), and
# runs the checks of issue 13's "Done when" on them (harness/*.py): one line per
# check, PASS or FAIL with the supervisor's one-line reason and the report's path,
# ending "N passed, N failed".
# Exit 0: every check passed; 1: some failed; 2: it could not run (no corpus, the
# tools did not build). Every wait is bounded and every process it started is
# ended before it exits. Builds are cached in ~/.cache/ttst/realworld (keyed by
# tarball, patch, build_release.sh and ttst-cc's runtime), the work files of the
# last run (servers' logs, reports) are kept in $TTST_REALWORLD_WORK (default
# /tmp/ttst-realworld).
#   TTST_REALWORLD_ONLY=memcached|nginx|negative|memcached16   run one group of checks only
#   (memcached16: memcached 1.6.38 -> 1.6.39 with its threads, issue 19; harness/memcached16_checks.py)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${1:-$root/../shared/realworld}
if [ ! -d "$dir" ]; then
  echo "run.sh: no corpus directory $dir (the release tarballs; pass it as the first argument)"
  echo "0 passed, 1 failed"
  exit 2
fi
dir=$(cd "$dir" && pwd)
cd "$root"
bash third_party/setup.sh >/dev/null 2>&1 || true  # the Debian packages (a no-op when present)
echo "building the tools (bazel, offline)..."
if ! timeout 1800 bazel build //supervisor:ttst-supervise //dwarfmeta:ttst-meta //stfw/runtime:ttst \
  //stfw/runtime:ttst/bin/ttst-cc //supervisor/quiesce/tests:pollprog //supervisor/quiesce/tests:evprog \
  >/tmp/ttst-realworld-bazel.log 2>&1; then
  echo "run.sh: the tools did not build; see /tmp/ttst-realworld-bazel.log"
  tail -5 /tmp/ttst-realworld-bazel.log
  echo "0 passed, 1 failed"
  exit 2
fi
work=${TTST_REALWORLD_WORK:-/tmp/ttst-realworld}
rm -rf "$work"
mkdir -p "$work"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/ttst/realworld
exec timeout -k 30 1500 python3 "$here/harness/harness.py" --corpus "$dir" --bazel-bin "$root/bazel-bin" \
  --work "$work" --cache "$cache" ${TTST_REALWORLD_ONLY:+--only "$TTST_REALWORLD_ONLY"}
