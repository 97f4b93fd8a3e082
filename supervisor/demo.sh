#!/usr/bin/env bash
# The README's first command: the project's main job, end to end.
# Until ttst-supervise lands: install, build everything, and show the state
# metadata of the bundled example program (the paper's Listing 2) and the plan
# for updating it from v1 to v2.
set -euo pipefail
cd "$(dirname "$0")/.."
bash third_party/setup.sh
echo "== building everything (bazel, offline)"
bazel build //... //tests/programs/listing2:builds
echo "== build complete"
bin=bazel-bin
l2=$bin/tests/programs/listing2
echo
echo "== ttst-meta dump: state metadata of the paper's Listing 2, version 1"
"$bin/dwarfmeta/ttst-meta" dump "$l2/v1"
echo
echo "== ttst-meta plan: what updating Listing 2 from v1 to v2 involves"
status=0
"$bin/dwarfmeta/ttst-meta" plan "$l2/v1" "$l2/v2" || status=$?
[[ $status -eq 0 || $status -eq 3 ]] || exit "$status"
