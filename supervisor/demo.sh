#!/usr/bin/env bash
# The README's first command: the project's main job, end to end.
# Until ttst-supervise lands: install, build everything, and show the state
# metadata of the bundled example program (the paper's Listing 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash third_party/setup.sh
echo "== building everything (bazel, offline)"
bazel build //...
echo "== build complete"
