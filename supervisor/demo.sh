#!/usr/bin/env bash
# The README's first command: the project's main job, end to end.
#   1. install, build everything (offline);
#   2. show the state metadata of the paper's Listing 2 and its v1 -> v2 plan;
#   3. start kvserver v1, fill it over TCP, and live-update it to v2 with
#      ttst-supervise while a client keeps reading; show the outcome, the report and
#      that the data is intact;
#   4. attempt an update that must fail (a v2 that crashes during start-up) and
#      show the rollback, its report, and kvserver still serving its state.
# If the update in step 3 cannot be validated (for instance a build without the
# state-transfer engine), ttst-supervise rolls back and the demo shows v1 still
# serving. Everything it started is killed when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
bash third_party/setup.sh
echo "== building everything (bazel, offline)"
bazel build //... //tests/programs/listing2:builds
echo "== build complete"
bin=$PWD/bazel-bin
l2=$bin/tests/programs/listing2
kv=$bin/tests/programs/kvserver
echo
echo "== ttst-meta dump: state metadata of the paper's Listing 2, version 1"
"$bin/dwarfmeta/ttst-meta" dump "$l2/v1"
echo
echo "== ttst-meta plan: what updating Listing 2 from v1 to v2 involves"
status=0
"$bin/dwarfmeta/ttst-meta" plan "$l2/v1" "$l2/v2" || status=$?
[[ $status -eq 0 || $status -eq 3 ]] || exit "$status"

work=$(mktemp -d /tmp/ttst-demo.XXXXXX)
pidfile=$work/kvserver.pid
reader=""
cleanup() {
  [[ -n "$reader" ]] && kill "$reader" 2>/dev/null || true
  [[ -s "$pidfile" ]] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo
echo "== starting kvserver v1"
"$kv/kvserver_v1" 0 >"$work/kvserver.out" 2>&1 &
echo $! >"$pidfile"
disown  # the update ends this process on commit: no job-control notice for it
for _ in $(seq 100); do grep -q '^PORT' "$work/kvserver.out" && break; sleep 0.05; done
port=$(awk '/^PORT/ {print $2}' "$work/kvserver.out")
echo "kvserver v1: pid $(cat "$pidfile"), port $port"

# One request per line over a fresh connection: prints the reply.
kvcmd() {
  local line
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf '%s\n' "$*" >&3
  read -r -t 5 line <&3 || line="(no reply)"
  exec 3>&-
  printf '%s\n' "$line"
}
# Checks every key the demo wrote; prints one summary line.
check_data() {
  local ok=0 bad=0 i line
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  for i in $(seq 1 200); do
    printf 'GET user%d\n' "$i" >&3
    read -r -t 5 line <&3 || line=""
    if [[ "$line" == "VALUE name-$i" ]]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
  done
  exec 3>&-
  echo "$ok of 200 keys read back intact ($bad wrong or missing); server says: $(kvcmd VERSION)"
}

echo "== filling it with 200 keys over TCP"
exec 4<>"/dev/tcp/127.0.0.1/$port"
for i in $(seq 1 200); do printf 'SET user%d name-%d\n' "$i" "$i" >&4; read -r _ <&4; done
exec 4>&-
check_data

# A client that keeps reading during the update.
( exec 5<>"/dev/tcp/127.0.0.1/$port"; n=0; fail=0
  while :; do
    printf 'GET user7\n' >&5
    if read -r -t 5 line <&5 && [[ "$line" == "VALUE name-7" ]]; then n=$((n + 1)); else fail=$((fail + 1)); fi
    echo "$n $fail" >"$work/reader.tmp" && mv -f "$work/reader.tmp" "$work/reader"
    sleep 0.01
  done ) &
reader=$!
sleep 0.3

echo
echo "== live update: ttst-supervise --pid $(cat "$pidfile") --new kvserver_v2"
status=0
"$bin/supervisor/ttst-supervise" --pid "$(cat "$pidfile")" --new "$kv/kvserver_v2" \
  --pidfile "$pidfile" --report-dir "$work/reports" || status=$?
echo "exit status $status (0 committed, 1 rolled back, 2 refused, 3 internal error)"
sleep 0.3
kill "$reader" 2>/dev/null || true
wait "$reader" 2>/dev/null || true
reader=""
read -r n fail <"$work/reader" || { n=0; fail=0; }
echo "the client kept reading during the update: $n answers right, $fail wrong or lost"
echo
echo "== the report (ttst-report show)"
"$bin/supervisor/ttst-report" show "$(ls -t "$work"/reports/*.json | head -1)"
echo
echo "== kvserver now: pid $(cat "$pidfile")"
check_data

echo
echo "== an update that must fail: a new version that crashes during start-up"
# crash_v2 is a stand-in, not a version of kvserver: the identity check is overridden.
status=0
"$bin/supervisor/ttst-supervise" --pid "$(cat "$pidfile")" --new "$bin/supervisor/tests/crash_v2" \
  --allow-different-program --pidfile "$pidfile" --report-dir "$work/reports" || status=$?
echo "exit status $status (1: rolled back)"
echo
echo "== its report (ttst-report show)"
"$bin/supervisor/ttst-report" show "$(ls -t "$work"/reports/*.json | head -1)"
echo
echo "== kvserver after the rollback: pid $(cat "$pidfile")"
check_data
echo
echo "== demo complete (reports kept in $work/reports)"
