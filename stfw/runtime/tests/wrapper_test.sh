#!/bin/bash
# wrapper_test.sh STEP — the ttst-cc wrapper on an ordinary configure-style project
# and on single files. Run by wrapper_test.cc (one doctest case per STEP).
set -u
root=$PWD
bin=$root/stfw/runtime/ttst/bin
proj=$root/tests/programs/runtime/confproj
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/ttstcc.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

case "$1" in
configure)
  cp -rL "$proj"/. "$work"/ && cd "$work" || fail "copy"
  export PATH=$bin:$PATH
  CC=ttst-cc ./configure > configure.log 2>&1 || { cat configure.log; fail "configure"; }
  grep -q '#define HAVE_STRDUP 1' config.h || fail "configure did not find strdup"
  grep -q HAVE_XYZ config.h && fail "configure found a nonexistent function (link check broken)"
  make > make.log 2>&1 || { cat make.log; fail "make"; }
  [ "$(./app)" = "configured, hello from the plugin" ] || fail "app output"
  nm app | grep -q ' D __ttst_runtime$' || fail "runtime not linked into the executable"
  nm -D --defined-only app | grep -q ' T malloc$' || fail "malloc not exported: shared libraries would bypass tracking"
  nm -D --defined-only app | grep -q ' T free$' || fail "free not exported"
  nm libplugin.so | grep -q __ttst_runtime && fail "runtime linked into a shared library"
  readelf -S util.o | grep -q debug_info || fail "compile step without -g"
  readelf -S app | grep -q debug_info || fail "link without debug info"
  make clean > /dev/null && CC=ttst-cc make CC=ttst-cc > /dev/null 2>&1 || fail "CC=ttst-cc make"
  ;;
cxx)
  cd "$work"
  printf '#include <string>\n#include <ttst.h>\nint main(){ std::string s(100, 0x61); TTST_UPDATE_POINT(); return ttst_is_updating() + (int)s.size() - 100; }\n' > t.cc
  "$bin/ttst-c++" -O2 -o t t.cc || fail "ttst-c++ build"
  ./t || fail "ttst-c++ program"
  readelf -x .ttst.upoints t | grep -q 0x0 || fail "no update point recorded"
  ;;
clang)
  cd "$work"
  printf '#include <stdlib.h>\nint main(void){ void *p = malloc(5); free(p); return 0; }\n' > c.c
  TTST_REAL_CC=clang "$bin/ttst-cc" -o c c.c || fail "clang build"
  ./c || fail "clang program"
  readelf --debug-dump=info c | grep -q clang || fail "not compiled by clang"
  ;;
passthrough)
  "$bin/ttst-cc" --version | grep -qi gcc || fail "--version"
  [ -n "$("$bin/ttst-cc" -dumpversion)" ] || fail "-dumpversion"
  ;;
missing-runtime)
  cp "$bin/ttst-cc" "$work/ttst-cc"
  out=$(env -u TTST_RUNTIME_DIR "$work/ttst-cc" -o x x.c 2>&1); rc=$?
  [ $rc -eq 2 ] || fail "exit status $rc for a missing runtime"
  echo "$out" | grep -q "cannot find the ttst runtime" || fail "message: $out"
  ;;
static)
  cd "$work"
  printf 'int main(void){ return 0; }\n' > s.c
  out=$("$bin/ttst-cc" -static -o s s.c 2>&1); rc=$?
  [ $rc -eq 2 ] || fail "exit status $rc for -static"
  [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "more than one line: $out"
  echo "$out" | grep -q "ttst-cc: -static is not supported" || fail "message: $out"
  [ -e s ] && fail "a static program was linked"
  "$bin/ttst-cc" -static -c -o s.o s.c || fail "-static on a compile step must pass"
  ;;
poller)
  cd "$work"
  printf 'static int wait_(void){ return 0; }\nint (*fp)(void) = wait_;\nvoid f1(void){ fp(); }\nint main(void){ f1(); return 0; }\n' > p.c
  out=$(TTST_POLLER="f1, wait_; f1" "$bin/ttst-cc" -O2 -o p p.c 2>&1) || fail "build with TTST_POLLER: $out"
  [ -z "$out" ] || fail "the link said something: $out"
  readelf -lW p | grep GNU_STACK | grep -q RWE && fail "executable stack"
  ./p || fail "program"
  recs=$(readelf -p .ttst.pollers p) || fail "no .ttst.pollers"
  echo "$recs" | grep -qxF '  [     0]  P^Af1, wait_' || fail "first path: $recs"
  echo "$recs" | grep -qxF '  [     c]  P^A f1' || fail "second path: $recs"
  "$bin/ttst-cc" -O2 -c -o p.o p.c && ! readelf -S p.o | grep -q ttst.pollers || fail "a record on a compile step"
  out=$(TTST_POLLER='f1"; .byte 1' "$bin/ttst-cc" -o q p.c 2>&1); rc=$?
  [ $rc -eq 2 ] || fail "exit status $rc for a bad TTST_POLLER"
  echo "$out" | grep -q "TTST_POLLER may hold only function names" || fail "message: $out"
  [ -e q ] && fail "linked with a bad TTST_POLLER"
  ;;
annotations)
  cd "$work"
  printf 'typedef struct { unsigned size, slabs; void **slab_list; } sc_t;\nsc_t sc;\nstatic int n;\nint main(void){ return n; }\n' > a.c
  out=$(TTST_ANNOTATIONS="SLAB_N(sc_t.slab_list, slabs, size, item); NO_TRANSFER(a.c::n); CONTAINER(sc_t, sc_t|x); HEADER_WRAPPER(main, 16); POINTS_TO(sc_t.slab_list, item); USED_N(sc_t.slab_list, slabs)" \
        TTST_POLLER="main" "$bin/ttst-cc" -O2 -o a a.c 2>&1) || fail "build with TTST_ANNOTATIONS: $out"
  [ -z "$out" ] || fail "the link said something: $out"
  readelf -lW a | grep GNU_STACK | grep -q RWE && fail "executable stack"
  ./a || fail "program"
  recs=$(readelf -p .ttst.annot a) || fail "no .ttst.annot"
  for want in 'T^A^Gttst-cc' 'sc_t.slab_list' 'count=slabs,chunk=size,of=item' 'T^A^Dttst-cc' 'a.c::n' 'sc_t' 'of=sc_t|x' 'main' 'header=16' \
              'T^A^Httst-cc' 'to=item' 'T^A^Ittst-cc' 'used=slabs'; do
    echo "$recs" | grep -q "]  $want\$" || fail "record $want missing: $recs"
  done
  readelf -p .ttst.pollers a | grep -q "P^Amain" || fail "TTST_POLLER lost next to TTST_ANNOTATIONS"
  "$bin/ttst-cc" -c -o a.o a.c && ! readelf -S a.o | grep -q ttst.annot || fail "a record on a compile step"
  # IXFER(a=b), NO_TRANSFER(a$b): a known kind whose name holds a character no
  # annotation has (the character check used to accept everything)
  for bad in 'SLAB(sc_t.slab_list)' 'FROB(x)' 'IXFER(x"); .byte 1' 'IXFER(a=b)' 'NO_TRANSFER(a$b)'; do
    out=$(TTST_ANNOTATIONS="$bad" "$bin/ttst-cc" -o q a.c 2>&1); rc=$?
    [ $rc -eq 2 ] || fail "exit status $rc for TTST_ANNOTATIONS=$bad"
    [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "more than one line: $out"
    echo "$out" | grep -q "^ttst-cc: TTST_ANNOTATIONS" || fail "message: $out"
    [ -e q ] && fail "linked with TTST_ANNOTATIONS=$bad"
  done
  # What annotations do hold passes the check: `|` alternatives, TAGGED's `*:T` and negative tags.
  good='CONTAINER(sc_t, sc_t|x); TAGGED(struct sc_t.slab_list, slabs, -1:int, 0:int, *:struct sc_t)'
  out=$(TTST_ANNOTATIONS="$good" "$bin/ttst-cc" -o g a.c 2>&1) || fail "build with TTST_ANNOTATIONS=$good: $out"
  ;;
*) fail "unknown step $1" ;;
esac
echo ok
