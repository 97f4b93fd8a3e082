#!/usr/bin/env bash
# build_release.sh TARBALL OUTDIR — builds one release of a real server from its
# unmodified source tarball (../shared/realworld), with -g and plain gcc, into
# OUTDIR/<program>-<version>/, and prints the path of the binary. Only what the
# metadata checks need: the server binary, no tests, no optional modules that need
# more libraries (nginx without rewrite/gzip: no PCRE, no zlib). Needs the packages
# of third_party/setup.sh (autoconf, automake, libevent-dev).
set -euo pipefail
tarball=$1
out=$2
name=$(basename "$tarball" .tar.gz)
mkdir -p "$out"
rm -rf "${out:?}/$name"
tar -xzf "$tarball" -C "$out"
cd "$out/$name"
log="$out/$name.log"
fail() {
  echo "build_release: $name: $1 failed; see $log" >&2
  tail -5 "$log" >&2
  exit 1
}
case "$name" in
  memcached-1.2.*)
    # glibc has no IOV_MAX without _XOPEN_SOURCE; 1.2's `inline` functions are GNU89.
    ./autogen.sh >"$log" 2>&1 || fail autogen
    ./configure CFLAGS="-g -O0 -fgnu89-inline -DIOV_MAX=1024" >>"$log" 2>&1 || fail configure
    make -j2 memcached >>"$log" 2>&1 || fail make
    echo "$out/$name/memcached"
    ;;
  memcached-*)
    ./autogen.sh >"$log" 2>&1 || fail autogen
    ./configure CFLAGS="-g -O0" >>"$log" 2>&1 || fail configure
    make -j2 memcached >>"$log" 2>&1 || fail make
    echo "$out/$name/memcached"
    ;;
  nginx-*)
    auto/configure --with-cc-opt="-g -O0" --without-http_rewrite_module --without-http_gzip_module \
      >"$log" 2>&1 || fail configure
    make -j2 >>"$log" 2>&1 || fail make
    echo "$out/$name/objs/nginx"
    ;;
  *)
    echo "build_release: unknown release $name" >&2
    exit 2
    ;;
esac
