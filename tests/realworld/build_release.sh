#!/usr/bin/env bash
# build_release.sh TARBALL OUTDIR [TTST_CC] — builds one release of a real server
# from its source tarball (../shared/realworld) into OUTDIR/<program>-<version>/,
# and prints the path of the binary. Only what the checks need: the server binary,
# no tests, no optional modules that need more libraries (nginx without
# rewrite/gzip: no PCRE, no zlib). Needs the packages of third_party/setup.sh
# (autoconf, automake, libevent-dev).
#   without TTST_CC: the unmodified source, plain gcc -g -O0 (metadata checks);
#   with TTST_CC (the path of ttst-cc): the project's patch
#     tests/realworld/<program>/<program>-<version>.patch applied if there is one
#     (patch -p1), built by ttst-cc at -O2, with the program's poller path declared
#     through ttst-cc's TTST_POLLER (ttst_abi.h §7: no source line for it).
set -euo pipefail
tarball=$1
out=$2
ttst_cc=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$tarball" .tar.gz)
mkdir -p "$out"
rm -rf "${out:?}/$name"
tar -xzf "$tarball" -C "$out"
cd "$out/$name"
log="$out/$name.log"
: >"$log"
patch_file="$here/${name%-*}/$name.patch"
if [ -n "$ttst_cc" ] && [ -f "$patch_file" ]; then
  patch -p1 <"$patch_file" >>"$log" 2>&1 || { echo "build_release: $name: patch failed; see $log" >&2; exit 1; }
fi
fail() {
  echo "build_release: $name: $1 failed; see $log" >&2
  tail -5 "$log" >&2
  exit 1
}
case "$name" in
  memcached-1.2.*)
    # The loop's idle wait is inside libevent: main (update point) -> event_base_loop
    # (libevent's exported loop) -> epoll_dispatch -> epoll_wait. A library poller path.
    [ -n "$ttst_cc" ] && export TTST_POLLER="event_base_loop"
    # Items are carved out of 1 MB slab pages (slabs.c): the pages are the first
    # slabclass_t.slabs elements of slabclass_t.slab_list, each item a chunk of
    # slabclass_t.size bytes (ttst.h TTST_SLAB_N, given to ttst-cc: no source line).
    # A connection mid-`set` holds its not yet linked item only in the `void *item`
    # member (and a char * into its data): POINTS_TO types and carves it (ttst.h).
    # A connection's iov / msglist entries past iovused / msgused are stale (into
    # freed reply buffers, a realloc'd iov): USED_N says they are not state.
    # The free chunks (slabclass_t.slots[0 .. sl_curr)) and the last page's unused
    # tail (end_page_ptr) point into the pages' free memory: FREE_SLOTS_N /
    # FREE_SLOTS declare them (a pointer into free bytes is refused otherwise).
    # A closed connection (on the freeconns list) keeps `ritem` into the data of the
    # last item it stored, which a later `delete` may have freed: FREE_SLOTS too.
    export TTST_ANNOTATIONS="SLAB_N(slabclass_t.slab_list, slabs, size, item); POINTS_TO(conn.item, item); \
USED_N(conn.iov, iovused); USED_N(conn.msglist, msgused); FREE_SLOTS_N(slabclass_t.slots, sl_curr); \
FREE_SLOTS(slabclass_t.end_page_ptr); FREE_SLOTS(conn.ritem)"
    # glibc has no IOV_MAX without _XOPEN_SOURCE; 1.2's `inline` functions are GNU89.
    ./autogen.sh >>"$log" 2>&1 || fail autogen
    ./configure ${ttst_cc:+CC="$ttst_cc"} CFLAGS="-g -O0 -fgnu89-inline -DIOV_MAX=1024" >>"$log" 2>&1 || fail configure
    make -j2 memcached >>"$log" 2>&1 || fail make
    echo "$out/$name/memcached"
    ;;
  memcached-1.6.*)
    # memcached 1.6 (issue 19; tests/realworld/memcached/STATUS-1.6.md): threads.
    # The main thread's and every worker's loop wait inside libevent: main / worker_libevent
    # (update points) -> event_base_loop -> epoll_dispatch -> epoll_wait (a library poller
    # path, as for 1.2). The maintenance threads wait in their loops' own bodies
    # (usleep, pthread_cond_wait, pthread_cond_timedwait): no declaration needed.
    [ -n "$ttst_cc" ] && export TTST_POLLER="event_base_loop"
    # Items are carved out of 1 MB slab pages: the first slabclass_t.slabs pages of
    # slabclass_t.slab_list, chunks of slabclass_t.size bytes; the free chunks form a
    # list of items from `void *slots`, linked by item.next (1.6 has no end_page_ptr:
    # a new page goes onto the free list whole): POINTS_TO types it, FREE_LIST says
    # its items are free (their links carried: zeroed, v2's allocations after the
    # first would find the list cut). A connection mid-`set` holds its unlinked item
    # in `void *item`.
    # The cache_t pools (cache.c: the connection queues' items, each worker's read
    # buffers and response bundles, I/O objects) keep their free objects on a list
    # linked through the objects' first bytes as `struct cache_free_s`: FREE_LIST.
    # The slab rebalancer's automover state is a `void *active_am` to the anonymous
    # `slab_automove` its init function returns as void *: POINTS_TO. A response
    # bundle (one 16 KB rbuf_cache block) is a header followed by `mc_resp r[]`, live
    # ones reached by conn.resp / resp_head (pointers into the block): CONTAINER
    # carves the header and the live responses (the patches zero a response when it
    # is freed and a new bundle's block: free ones keep no stale pointers). Each
    # worker's LRU-bump ring (`bipbuf_t`, 128 KB, a header and `unsigned char data[]`:
    # no type, so copied as bytes when no word in it looks like a pointer) keeps its
    # consumed entries' item pointers: the patches zero them as the LRU maintainer
    # polls them (one line); pending entries (each holds a reference on its item)
    # still refuse the update, naming the ring. A chunked item (ITEM_CHUNKED = 32: a
    # value over slab_chunk_max, 512 KB) holds an `item_chunk` in its data bytes at
    # ITEM_schunk: after the key and its NUL, the client flags (ITEM_CFLAGS = 256: 4
    # bytes) and the CAS (ITEM_CAS = 2: 8 bytes); its `next` leads to the chunks (slab
    # chunks of the largest class): EMBEDDED carves it, so the chunks are typed too.
    export TTST_ANNOTATIONS="SLAB_N(slabclass_t.slab_list, slabs, size, item); POINTS_TO(conn.item, item); \
POINTS_TO(slabclass_t.slots, item); FREE_LIST(slabclass_t.slots, next); FREE_LIST(cache_t.head.stqh_first, c_next); \
POINTS_TO(struct slab_rebal_thread.active_am, slab_automove); CONTAINER(mc_resp_bundle, mc_resp_bundle|mc_resp); \
EMBEDDED(item.data, item_chunk, it_flags:32, nkey, 1, it_flags:256:4, it_flags:2:8)"
    # No extstore (its I/O threads start only with -o ext_path; left out to keep the
    # state to what the checks exercise), no TLS, no proxy, no SASL (configure's defaults).
    ./autogen.sh >>"$log" 2>&1 || fail autogen
    # The tarball is a git archive: its version.pl asks `git describe` and answers
    # UNKNOWN (`version` then says "VERSION UNKNOWN"); the release's own number
    # instead, as a release tarball's configure carries it (a generated file).
    echo "m4_define([VERSION_NUMBER], [${name#memcached-}])" >version.m4
    autoconf >>"$log" 2>&1 || fail autoconf
    if [ -n "$ttst_cc" ]; then
      ./configure CC="$ttst_cc" CFLAGS="-O2" --disable-extstore >>"$log" 2>&1 || fail configure
    else
      ./configure CFLAGS="-g -O0" --disable-extstore >>"$log" 2>&1 || fail configure
    fi
    make -j2 memcached >>"$log" 2>&1 || fail make
    echo "$out/$name/memcached"
    ;;
  memcached-*)
    ./autogen.sh >>"$log" 2>&1 || fail autogen
    ./configure ${ttst_cc:+CC="$ttst_cc"} CFLAGS="-g -O0" >>"$log" 2>&1 || fail configure
    make -j2 memcached >>"$log" 2>&1 || fail make
    echo "$out/$name/memcached"
    ;;
  nginx-*)
    if [ -n "$ttst_cc" ]; then
      # The single-process loop's idle wait: ngx_single_process_cycle (update
      # point) -> ngx_process_events_and_timers -> ngx_event_actions.process_events
      # = ngx_epoll_process_events -> epoll_wait.
      export TTST_POLLER="ngx_process_events_and_timers, ngx_epoll_process_events"
      # Pool blocks (ngx_create_pool / ngx_palloc_block): each starts with its
      # ngx_pool_t header and is reached as ngx_pool_t * (c->pool, d.next): a
      # container whose sub-objects typed pointers carve (stfw/README.md).
      # Free connections (cycle->free_connections, linked by c->data) keep the
      # c->pool, c->log and c->buffer of their closed connection (freed blocks,
      # maybe reused): FREE_LIST says they are not state but for what
      # ngx_get_connection reads (data, read, write), so their stale pointers
      # declare and carve nothing.
      # The configuration v2's start-up read from nginx.conf is v2's (KEEP_NEW_AT:
      # the cycle is transferred, these members keep v2's start-up values and P's
      # run-time pointers into them are paired with v2's; tests/realworld/nginx/STATUS.md).
      keep="KEEP_NEW(ngx_cycle, conf_ctx); KEEP_NEW(ngx_cycle, modules); KEEP_NEW(ngx_cycle, listening)"
      keep="$keep; KEEP_NEW(ngx_cycle, paths); KEEP_NEW(ngx_cycle, config_dump); KEEP_NEW(ngx_cycle, open_files)"
      keep="$keep; KEEP_NEW(ngx_cycle, shared_memory)"
      # The cycle's strings from the command line and nginx.conf (ngx_str_t values
      # whose data lie in the configuration's pool blocks): v2's.
      keep="$keep; KEEP_NEW(ngx_cycle, conf_file); KEEP_NEW(ngx_cycle, conf_param); KEEP_NEW(ngx_cycle, conf_prefix)"
      keep="$keep; KEEP_NEW(ngx_cycle, prefix); KEEP_NEW(ngx_cycle, error_log); KEEP_NEW(ngx_cycle, lock_file)"
      keep="$keep; KEEP_NEW(ngx_cycle, hostname)"
      # What an HTTP connection's configuration pointers (hc->conf_ctx, hc->addr_conf)
      # point into, typed along the path v2 has too, so the kept walk pairs them with
      # v2's: listening socket (carved by c->listening) -> its port -> the port's
      # addresses (IPv4 ports: an IPv6 port's addrs hold ngx_http_in6_addr_t) ->
      # conf.default_server -> ctx.
      keep="$keep; POINTS_TO(ngx_listening_t.servers, ngx_http_port_t); POINTS_TO(ngx_http_port_t.addrs, ngx_http_in_addr_t)"
      # A pool's later blocks (ngx_palloc_block) hold only its first member,
      # ngx_pool_data_t d, reached through d.next and current (ngx_pool_t * in the
      # type): POINTS_TO says so, and those blocks are containers too.
      pools="CONTAINER(ngx_pool_t, ngx_pool_t); CONTAINER(ngx_pool_data_t, ngx_pool_data_t)"
      pools="$pools; POINTS_TO(ngx_pool_data_t.next, ngx_pool_data_t); POINTS_TO(ngx_pool_t.current, ngx_pool_data_t)"
      # ngx_os_environ and ngx_os_argv hold the process's own environ / argv arrays
      # (on its initial stack, not state): F keeps its own (NO_TRANSFER).
      own="NO_TRANSFER(nginx.c::ngx_os_environ); NO_TRANSFER(ngx_os_argv)"
      # epoll's event_list is epoll_wait's output buffer: its data unions are
      # scratch, rewritten by the next epoll_wait before use (IXFER: bytes as is).
      own="$own; IXFER(struct epoll_event.data)"
      # What a connection's pool holds behind void *: c->data of an idle HTTP
      # connection is its ngx_http_connection_t (of a free one: the free list; of
      # one mid-request: the request, refused then as two types at one start), and
      # a connection log's data its ngx_http_log_ctx_t.
      own="$own; POINTS_TO(ngx_connection_t.data, ngx_http_connection_t); POINTS_TO(ngx_log_t.data, ngx_http_log_ctx_t)"
      export TTST_ANNOTATIONS="$pools; FREE_LIST(ngx_cycle_t.free_connections, data); $keep; $own"
      # Strings (ngx_str_t: len, then u_char *data; no NUL, allocated unaligned from
      # pools): USED_N gives the text's length, so the stale bytes after a text in a
      # pool block (c->addr_text, the peer's address) are not taken for a pointer.
      export TTST_ANNOTATIONS="$TTST_ANNOTATIONS; USED_N(ngx_str_t.data, len)"
      # A pool block's unused part, from d.last to d.end, holds stale bytes of the
      # block's previous use (malloc reuses blocks): FREE_UPTO says it is free memory.
      export TTST_ANNOTATIONS="$TTST_ANNOTATIONS; FREE_UPTO(ngx_pool_data_t.last, end)"
      # An HTTP connection's log context keeps current_request after the request is
      # freed (ngx_http_free_request clears ctx->request only; ngx_http_log_error reads
      # current_request only while request is set): dead while request is NULL, its
      # bits carried (TAGGED with the pointer sibling as the tag; `*`: any other value).
      export TTST_ANNOTATIONS="$TTST_ANNOTATIONS; TAGGED(struct ngx_http_log_ctx_s.current_request, request, \
0:int, *:struct ngx_http_request_s)"
      # A server's server_names array lives in the configuration's temp pool
      # (ngx_http_core_server: cf->temp_pool), destroyed after start-up: its pool and
      # elts point into freed blocks malloc reuses (the epoll event list), read only
      # while the configuration is parsed. Not state: each version keeps its own.
      export TTST_ANNOTATIONS="$TTST_ANNOTATIONS; NO_TRANSFER(ngx_http_core_srv_conf_t.server_names)"
      auto/configure --with-cc="$ttst_cc" --with-cc-opt="-O2" --without-http_rewrite_module \
        --without-http_gzip_module >>"$log" 2>&1 || fail configure
    else
      auto/configure --with-cc-opt="-g -O0" --without-http_rewrite_module --without-http_gzip_module \
        >>"$log" 2>&1 || fail configure
    fi
    make -j2 >>"$log" 2>&1 || fail make
    echo "$out/$name/objs/nginx"
    ;;
  *)
    echo "build_release: unknown release $name" >&2
    exit 2
    ;;
esac
