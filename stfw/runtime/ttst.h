/* ttst.h — the only header a program built with ttst-cc may include.
 *
 *   TTST_UPDATE_POINT();          top of a long-running loop: where updates happen
 *   ttst_is_updating()            true in a new version until its state is in
 *   TTST_IXFER(x) ...             annotations for the state transfer
 *
 * Annotations name what they annotate with the grammar of ttst_abi.h §1, written
 * as plain tokens: TTST_IXFER(table), TTST_PXFER(struct conn.cookie),
 * TTST_NO_TRANSFER(main::epfd), TTST_RENAMED_FROM(sessions, old_sessions),
 * TTST_ALLOCATOR(pool_get, 2), TTST_ALLOCATOR_N(pool_calloc, 1, 2),
 * TTST_DEALLOCATOR(pool_put, 2). They may appear at file scope or in a function,
 * cost nothing at run time, and land in the non-allocated section .ttst.annot.
 *   TTST_POLLER(f1, ..., fn)      the loop's idle wait sits in helper fn (below) */
#ifndef TTST_H
#define TTST_H

#include "ttst_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

extern struct ttst_runtime __ttst_runtime;
void __ttst_update_point(void);

/* True in a future version (started by the supervisor) until the supervisor says
 * its state has been transferred in. */
static inline int ttst_is_updating(void) { return __ttst_runtime.updating != 0; }

#ifdef __cplusplus
}
#endif

/* One predictable, not-taken branch on a flag while no update is pending. The
 * label's link-time address goes to .ttst.upoints (ttst_abi.h §2). */
#define TTST_UPDATE_POINT()                                                      \
  do {                                                                           \
    __asm__ __volatile__("661:\n\t.pushsection " TTST_UPOINTS_SECTION            \
                         ",\"\",@progbits\n\t.quad 661b\n\t.popsection");        \
    if (__builtin_expect(__ttst_runtime.update_requested != 0, 0))               \
      __ttst_update_point();                                                     \
  } while (0)

#define TTST__STR(x) #x
#define TTST__XSTR(x) TTST__STR(x)
/* One record: tag, version, kind, file, target, arg (ttst_abi.h §1). */
#define TTST__ANNOT(kind, target, arg)                                           \
  __asm__(".pushsection " TTST_ANNOT_SECTION ",\"\",@progbits\n\t"               \
          ".byte 0x54, 1, " TTST__XSTR(kind) "\n\t"                              \
          ".asciz \"" __FILE__ "\"\n\t"                                          \
          ".asciz \"" target "\"\n\t"                                            \
          ".asciz \"" arg "\"\n\t"                                               \
          ".popsection")

#define TTST_IXFER(target) TTST__ANNOT(1, #target, "")
#define TTST_PXFER(target) TTST__ANNOT(2, #target, "")
/* TTST_RENAMED_FROM(target, old_id): a global, a member (struct S.m, old name) or a
 * local of the frames at the update point (func::local, old name) renamed. */
#define TTST_RENAMED_FROM(target, old_id) TTST__ANNOT(3, #target, #old_id)
#define TTST_NO_TRANSFER(target) TTST__ANNOT(4, #target, "")
#define TTST_ALLOCATOR(func, size_param) TTST__ANNOT(5, #func, "size=" #size_param)
#define TTST_ALLOCATOR_N(func, count_param, size_param)                          \
  TTST__ANNOT(5, #func, "size=" #size_param ",count=" #count_param)
#define TTST_DEALLOCATOR(func, ptr_param) TTST__ANNOT(6, #func, "ptr=" #ptr_param)
/* A member of the previous version's struct dropped on purpose: when a member is
 * dropped and another of the same type added in the same struct, the transfer
 * suspects a rename and refuses unless TTST_RENAMED_FROM(struct S.new, old) or
 * TTST_DROPPED(struct S.old) says which. */
#define TTST_DROPPED(target) TTST__ANNOT(10, #target, "")
/* TTST_KEEP_NEW(global): state the new version's start-up builds from code (a
 * command table, a handler registry) belongs to the new version: its start-up
 * value of `global`, and the objects reached from it through typed pointers, are
 * kept; the old version's objects there are not transferred, and pointers into
 * them from the transferred state are paired with the new graph's counterparts
 * (same member path, same array index; stfw/README.md "Start-up state v2 owns").
 * Never for a value written only at start-up that run-time state depends on (a
 * hash seed must come from the old version). */
#define TTST_KEEP_NEW(target) TTST__ANNOT(11, #target, "")
/* TTST_KEEP_NEW_AT(global, member): the root is a member of the struct `global`
 * points to (nginx: ngx_cycle -> conf_ctx): the struct is transferred, its
 * `member` (a '.'-path: a pointer, or an embedded struct such as an array header)
 * gets v2's start-up value and what it reaches is kept. */
#define TTST_KEEP_NEW_AT(target, member) TTST__ANNOT(11, #target, "at=" #member)

/* Carved containers (stfw/README.md "Carved containers"): the heap blocks a
 * global or member points to (through every pointer level) are not objects but
 * containers; typed pointers into them carve typed sub-objects of type T, the
 * rest of the block is free memory. Declared by what HOLDS the containers, never
 * by a function name, so inlining at any -O changes nothing.
 *   TTST_CONTAINER(holder, T)           a region / pool block: a sub-object
 *                                       extends to the next one (or the end)
 *   TTST_SLAB(holder, chunk_member, T)  a slab page: chunk_member, a sibling of
 *                                       the holder member, is each chunk's size
 *   TTST_CONTAINER(T, T|U)              by type: every heap block a T * points
 *                                       to at its base (nginx: ngx_pool_t)
 * memcached 1.2: TTST_SLAB_N(slabclass_t.slab_list, slabs, size, item) (below).
 * Without touching the source: ttst-cc's TTST_ANNOTATIONS variable. */
#define TTST_CONTAINER(holder, type) TTST__ANNOT(7, #holder, "of=" #type)
#define TTST_SLAB(holder, chunk_member, type) TTST__ANNOT(7, #holder, "chunk=" #chunk_member ",of=" #type)
/* ..._N: the holder points to an array of pointers to containers whose first
 * count_member (another sibling) elements are in use; the rest may hold stale
 * bytes (a realloc'd array's tail) that must not declare anything. memcached 1.2:
 * TTST_SLAB_N(slabclass_t.slab_list, slabs, size, item). */
/* TTST_HEADER_WRAPPER(func, k): func allocates malloc(n + k) and returns p + k
 * (zmalloc): each block allocated in func holds one object at +k after a k-byte
 * header (copied as bytes). By function: declare a wrapper that is not inlined into
 * its callers (its own .c file, no LTO), else its blocks stay undeclared (refused). */
#define TTST_HEADER_WRAPPER(func, k) TTST__ANNOT(7, #func, "header=" #k)
#define TTST_CONTAINER_N(holder, count_member, type) TTST__ANNOT(7, #holder, "count=" #count_member ",of=" #type)
#define TTST_SLAB_N(holder, count_member, chunk_member, type)                    \
  TTST__ANNOT(7, #holder, "count=" #count_member ",chunk=" #chunk_member ",of=" #type)

/* TTST_POINTS_TO(holder, T): the `void *` / `char *` member `holder` holds a T *
 * (or NULL): the object it points to is typed T, and carved as a T out of a
 * container (memcached 1.2: conn.item, the item a `set` is reading into, is
 * allocated but not yet linked anywhere else). On a typed pointer member: what it
 * reaches is only a T (nginx: a later pool block's ngx_pool_data_t through the
 * ngx_pool_t * d.next). */
#define TTST_POINTS_TO(holder, type) TTST__ANNOT(8, #holder, "to=" #type)
/* TTST_USED_N(holder, count_member): the heap array the pointer member `holder`
 * points to has its first `count_member` elements (a sibling) in use; the
 * elements past them are not state (stale entries the program writes before it
 * reads them): not checked, not followed, zeroed in the new version (memcached
 * 1.2: conn.iov / iovused, conn.msglist / msgused). On a char / unsigned char
 * pointer member: the length of the text it points to (nginx: ngx_str_t.data,
 * len); text in a container is then data, never a pointer (no block is shortened). */
#define TTST_USED_N(holder, count_member) TTST__ANNOT(9, #holder, "used=" #count_member)
/* TTST_TAGGED(struct S.m, F, V:T, ...): a tagged union. What the pointer member m
 * holds depends on its sibling F (an integer, enum or bitfield): for F == V it
 * holds a T * (T a struct, union, typedef or base type name: the object is typed
 * T and translated), or, for T = int, an integer whose bits are carried as they
 * are. `*:T` is every other value of F (F may also be a pointer sibling: `0:int,
 * *:struct req` = dead while F is NULL). Without it a pointer member that holds
 * integers in some objects ("mixed")
 * is refused when a live-looking value is met in it (stfw/README.md, "Values in
 * pointer members"). Redis-like: TTST_TAGGED(struct robj.ptr, encoding, 0:char,
 * 1:int, 2:struct list, 3:struct dict). Without a source change: ttst-cc's
 * TTST_ANNOTATIONS="TAGGED(struct robj.ptr, encoding, 0:char, 1:int, ...)". */
#define TTST_TAGGED(holder, tag_member, ...) TTST__ANNOT(14, #holder, "tag=" #tag_member ";" #__VA_ARGS__)
/* TTST_EMBEDDED(struct S.m, T, F:MASK, term, ...): a T lives inside S's bytes at
 * m's offset plus the sum of the terms, when all bits of MASK are set in sibling F
 * (leave F:MASK empty for "always"). A term is a constant N, a sibling's name (its
 * value) or F:MASK:N (N when MASK's bits are set in sibling F). The T is carved as a
 * sub-object of the container the S sits in (TTST_SLAB...): its pointers translated,
 * what they reach typed (ttst_abi.h §1, kind 17). memcached 1.6's chunked item:
 * TTST_EMBEDDED(item.data, item_chunk, it_flags:32, nkey, 1, it_flags:256:4,
 * it_flags:2:8) — ITEM_schunk: after the key and NUL, the client flags, the CAS. */
#define TTST_EMBEDDED(holder, type, when, ...) \
  TTST__ANNOT(17, #holder, "to=" #type ";when=" #when ";at=" #__VA_ARGS__)
/* Free memory, declared by what points to it (ttst_abi.h §1, kind 12). A pointer
 * into a container's bytes that no sub-object holds is refused unless declared so:
 *   TTST_FREE_SLOTS(holder)                 the member (or global) points to free memory
 *                                           (memcached 1.2: slabclass_t.end_page_ptr;
 *                                           nginx: ngx_pool_data_t.last)
 *   TTST_FREE_SLOTS_N(holder, count_member) it points to an array of pointers to
 *                                           free slots, the first count_member in
 *                                           use (memcached 1.2: slabclass_t.slots, sl_curr)
 *   TTST_FREE_LIST(holder, link_member)     it points to the first free element of
 *                                           a list linked by link_member: free
 *                                           elements type nothing and their pointers
 *                                           are carried, never refused (nginx:
 *                                           ngx_cycle_t.free_connections, data) */
#define TTST_FREE_SLOTS(holder) TTST__ANNOT(12, #holder, "")
#define TTST_FREE_SLOTS_N(holder, count_member) TTST__ANNOT(12, #holder, "count=" #count_member)
#define TTST_FREE_LIST(holder, link_member) TTST__ANNOT(12, #holder, "link=" #link_member)
/*   TTST_FREE_UPTO(holder, end_member)      the bytes from where it points to where its
 *                                           sibling end_member points (its container's
 *                                           end) are free: a bump allocator's unused part
 *                                           (nginx: ngx_pool_data_t.last, end) */
#define TTST_FREE_UPTO(holder, end_member) TTST__ANNOT(12, #holder, "upto=" #end_member)
/* TTST_POLLER(f1, ..., fn): the event loop's idle wait is a blocking call in fn,
 * reached from the update point's function through f1 -> f2 -> ... -> fn (calls
 * through function pointers included). nginx: TTST_POLLER(
 * ngx_process_events_and_timers, ngx_epoll_process_events). Only that exact chain on
 * the stack is quiescent; the same call reached any other way (a request handler
 * calling the poller) is mid-request (ttst_abi.h §6, §7). File scope or in a
 * function; costs nothing at run time. Without touching the source: ttst-cc's
 * TTST_POLLER variable (stfw/runtime/README.md). */
#define TTST_POLLER(...)                                                          \
  __asm__(".pushsection " TTST_POLLERS_SECTION ",\"\",@progbits\n\t"            \
          ".byte 0x50, 1\n\t"                                                    \
          ".asciz \"" #__VA_ARGS__ "\"\n\t"                                     \
          ".popsection")

#endif /* TTST_H */
