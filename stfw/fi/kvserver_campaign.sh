#!/usr/bin/env bash
# kvserver_campaign.sh — the ttst-fi benchmark: a fault-injection campaign on
# kvserver v2 -> v3 with its transfer plugin (tests/programs/kvserver/kvserver_v3_xfer.c)
# and v3's start-up, 500 activated mutants by default, in parallel on every core,
# resumable (run it again with the same OUT to continue). Prints the Figure 6
# table; the charts land in OUT/figure6.png and OUT/ttst_vs_forward_only.png.
#   bash stfw/fi/kvserver_campaign.sh [OUT] [ttst-fi run options...]
# e.g. bash stfw/fi/kvserver_campaign.sh /tmp/fi-kv --max-mutants 100 --jobs 4
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/ttst-fi-kvserver}
shift || true
bazel build //stfw/fi:ttst-fi //supervisor:ttst-supervise //stfw/runtime:ttst \
  //tests/programs/kvserver:kvserver_v2 //tests/programs/kvserver:kvserver_v3 \
  //tests/programs/kvserver:kvserver_v3_xfer >/dev/null 2>&1 || {
  echo "kvserver_campaign: the build failed; run: bazel build //stfw/fi:ttst-fi" >&2
  exit 2
}
B=$(bazel info bazel-bin 2>/dev/null || true)
[ -d "$B" ] || B=$PWD/bazel-bin  # bazel info prints nothing in some shells (no tty): the convenience link
W=$PWD
KV=tests/programs/kvserver
CC="TTST_REAL_CC=gcc $B/stfw/runtime/ttst/bin/ttst-cc"
exec "$B/stfw/fi/ttst-fi" run \
  --old "$B/$KV/kvserver_v2" --new "$B/$KV/kvserver_v3" --xfer "$B/$KV/kvserver_v3_xfer" \
  --xfer-source "$W/$KV/kvserver_v3_xfer.c" \
  --build-xfer "$CC --xfer-plugin -I$B/$KV -I$W/$KV -o {out} {src}" \
  --new-source "$W/$KV/kvserver.c" --startup-functions main,table_init,make_listener \
  --build-new "$CC -O2 -DKV_VERSION=3 -o {out} {src}" \
  --start "{old} {port}" \
  --workload "python3 $W/stfw/fi/kvserver_client.py load {port} 200" \
  --oracle "python3 $W/stfw/fi/kvserver_client.py dump {port}" \
  --variants 8 --max-mutants 500 --out "$OUT" "$@"
