/* ttst_xfer.h — the API of user transfer code (a "transfer plugin", --xfer).
 *
 * A plugin is C the user writes against the types `ttst-meta xfer-skeleton`
 * generates (v1_struct_X / v2_struct_X, checked against DWARF). It is built with
 * `ttst-cc --xfer-plugin -o PLUGIN file.c` into a freestanding static PIE (no libc,
 * no libraries, only R_X86_64_RELATIVE relocations) and given to ttst-supervise
 * with --xfer PLUGIN. The agent (UNTRUSTED, inject/agent/) loads it in F and in R:
 * forward functions run in F (source: P, v1 -> v2), backward functions in R
 * (source: F, v2 -> v1); never in P. A crash or hang in one rolls the update back
 * and the report names the function. Time-traveling state transfer validates the
 * pair: a backward function that is not the forward one's inverse leaves R unlike
 * P, and the diff names the differing bytes.
 *
 * Rules for plugin code:
 *  - `src` points to a COPY of the source object (read only); pointer values in it
 *    are the source process's addresses: never dereference them, read what they
 *    point to with ttst_xfer_source() and translate them with ttst_xfer_ptr().
 *  - `dst` is the destination object. Backward, every byte of it the function is
 *    responsible for (all members of the v1 type) is ZEROED before the call, so a
 *    member the function forgets shows in the diff.
 *  - No libc, no globals of the program, no system calls: memory comes from
 *    ttst_xfer_scratch() (the agent's arena) and, forward, new objects of the
 *    program from ttst_xfer_new_owned().
 *  - Return 0 on success; anything else fails the transfer (ttst_xfer_fail() says why).
 *
 * Registration (one table per plugin, TTST_XFER_PLUGIN at file scope):
 *   TTST_XFER_PLUGIN(
 *       TTST_XFER_TYPE_FORWARD("struct entry", fwd_struct_entry),
 *       TTST_XFER_TYPE_BACKWARD("struct entry", bwd_struct_entry),
 *       TTST_XFER_OWNS("struct entry.value"));
 * Targets: a global's state ID ("table", "kvserver.c::lru_head"), a struct type
 * ("struct entry", "typedef-name"): its heap objects element by element and the
 * globals of exactly that type; TTST_XFER_OWNS("struct S.m"): the objects a
 * pointer member m of S points to belong to S's functions (not typed, allocated or
 * written by the automatic transfer; see ttst_xfer_new_owned / ttst_xfer_owned).
 * TTST_XFER_INIT("global", fn): forward only, after the transfer, fn(x, NULL, dst)
 * initialises state v2 adds. TTST_XFER_TYPE_PLACE("struct S", fn): both directions,
 * before anything is written, fn(x, src, in_place) for every sub-object of type S
 * carved in a container; it may move the sub-object's destination to free room of a
 * container with ttst_xfer_place / ttst_xfer_place_source (a grown item that no
 * longer fits its slab chunk; PLUGINS.md "Placement"). A target without a backward function is still
 * transferred forward but not validated (the report lists it as unvalidated).
 *
 * Plain C99 with GNU extensions, only <stdint.h> and <stddef.h>. */
#ifndef TTST_XFER_H
#define TTST_XFER_H

#include <stddef.h>
#include <stdint.h>

#define TTST_XFER_MAGIC 0x5846585454535454ull /* "TTSTTXFX" */
#define TTST_XFER_VERSION 1u
#define TTST_XFER_ENTRY "ttst_xfer_plugin_entry" /* the ELF entry symbol */

enum ttst_xfer_kind {
  TTST_XFER_KIND_GLOBAL = 1, /* target: a global's state ID            */
  TTST_XFER_KIND_TYPE = 2,   /* target: a struct/union/typedef name    */
  TTST_XFER_KIND_OWNS = 3,   /* target: "struct S.member" (pointer)    */
  TTST_XFER_KIND_INIT = 4,   /* target: a global of v2; forward only   */
  TTST_XFER_KIND_PLACE = 5,  /* target: a type of carved sub-objects   */
};
enum ttst_xfer_direction { TTST_XFER_FORWARD = 1, TTST_XFER_BACKWARD = 2, TTST_XFER_BOTH = 3 };

struct ttst_xfer; /* one call's context, owned by the engine */
typedef int (*ttst_xfer_fn)(struct ttst_xfer *x, const void *src, void *dst);

struct ttst_xfer_entry {
  uint32_t kind;      /* enum ttst_xfer_kind      */
  uint32_t direction; /* enum ttst_xfer_direction */
  const char *target;
  const char *name; /* the function's name, for reports */
  ttst_xfer_fn fn;  /* NULL for OWNS */
};

struct ttst_xfer_table {
  uint64_t magic;   /* TTST_XFER_MAGIC   */
  uint32_t version; /* TTST_XFER_VERSION */
  uint32_t count;
  const struct ttst_xfer_entry *entries;
};

/* What the engine offers the plugin (filled by the agent, passed to the entry). */
struct ttst_xfer_api {
  uint32_t version;
  uint32_t direction; /* TTST_XFER_FORWARD in F, TTST_XFER_BACKWARD in R */
  /* A source pointer value translated into this process (NULL stays NULL); a
   * value that cannot be translated fails the transfer (returns 0). */
  uint64_t (*ptr)(struct ttst_xfer *x, uint64_t source_value);
  /* The automatic transfer of the whole current element, or of one member
   * (named as in the destination's type; a member renamed needs both names:
   * ttst_xfer_member_from). 0 on success. */
  int (*whole)(struct ttst_xfer *x);
  int (*member)(struct ttst_xfer *x, const char *src_member, const char *dst_member);
  /* Read `len` bytes of the source at source address `addr` (NULL: not readable). */
  const void *(*source)(struct ttst_xfer *x, uint64_t addr, uint64_t len);
  /* Scratch memory in the agent's arena (never the program's heap). */
  void *(*scratch)(struct ttst_xfer *x, uint64_t size);
  /* Forward: a new object of `size` zeroed bytes in the program's heap standing for
   * the owned source object at `source_value` (its counterpart when the backward
   * transfer runs). Backward: the destination object (in R) of the owned source
   * object at `source_value`, zeroed, its size in *size. NULL: failed. */
  void *(*new_owned)(struct ttst_xfer *x, uint64_t source_value, uint64_t size);
  void *(*owned)(struct ttst_xfer *x, uint64_t source_value, uint64_t *size);
  /* Fails the transfer with this reason (the function's name is added). */
  int (*fail)(struct ttst_xfer *x, const char *why);
  /* The current element's index in its heap array (0 for a global). */
  uint64_t (*element)(struct ttst_xfer *x);
  /* Backward: member `m` of the destination keeps the value it had before the call
   * (R's, i.e. P's): for state v2 dropped and the backward function cannot
   * rebuild. That member is then not validated. Forward: nothing to do. */
  int (*keep)(struct ttst_xfer *x, const char *m);
  /* Bytes the destination element has and the source element had: the type's
   * size, or for a sub-object carved in a container (TTST_SLAB: an item with its
   * data behind it) its whole extent, which a function may fill up to its end. */
  uint64_t (*room)(struct ttst_xfer *x, uint64_t *source_bytes);
  /* The current element's address in the source process (0 for an init callback):
   * its identity, e.g. to give each carried-over object a unique new ID. Never
   * dereference it (read the source with ttst_xfer_source). */
  uint64_t (*source_address)(struct ttst_xfer *x);
  /* In a place function only (TTST_XFER_TYPE_PLACE): the current carved sub-object
   * goes to `addr`, `bytes` long, instead of its container's offset; `addr` is this
   * process's address (source == 0) or a source address inside a container, mapped
   * by its offset (source != 0). It must be room inside a container that no other
   * sub-object uses (checked after every place function ran). 0 on success. */
  int (*place)(struct ttst_xfer *x, uint64_t addr, uint64_t bytes, int source);
  /* The source's bytes of the global with this state ID (read only), its size in
   * *size; NULL when the source has no such global. */
  const void *(*source_global)(struct ttst_xfer *x, const char *id, uint64_t *size);
};

/* Set by the entry; the helpers below use it. */
extern const struct ttst_xfer_api *ttst_xfer_api_;

#define ttst_xfer_ptr(x, p) ((void *)(uintptr_t)ttst_xfer_api_->ptr((x), (uint64_t)(uintptr_t)(p)))
#define ttst_xfer_whole(x) (ttst_xfer_api_->whole(x))
#define ttst_xfer_member(x, m) (ttst_xfer_api_->member((x), (m), (m)))
#define ttst_xfer_member_from(x, old, m) (ttst_xfer_api_->member((x), (old), (m)))
#define ttst_xfer_source(x, p, n) (ttst_xfer_api_->source((x), (uint64_t)(uintptr_t)(p), (n)))
#define ttst_xfer_scratch(x, n) (ttst_xfer_api_->scratch((x), (n)))
#define ttst_xfer_new_owned(x, p, n) (ttst_xfer_api_->new_owned((x), (uint64_t)(uintptr_t)(p), (n)))
#define ttst_xfer_owned(x, p, sizep) (ttst_xfer_api_->owned((x), (uint64_t)(uintptr_t)(p), (sizep)))
#define ttst_xfer_fail(x, why) (ttst_xfer_api_->fail((x), (why)))
#define ttst_xfer_element(x) (ttst_xfer_api_->element(x))
#define ttst_xfer_keep(x, m) (ttst_xfer_api_->keep((x), (m)))
#define ttst_xfer_room(x, srcp) (ttst_xfer_api_->room((x), (srcp)))
#define ttst_xfer_source_address(x) (ttst_xfer_api_->source_address(x))
#define ttst_xfer_place(x, p, n) (ttst_xfer_api_->place((x), (uint64_t)(uintptr_t)(p), (n), 0))
#define ttst_xfer_place_source(x, p, n) (ttst_xfer_api_->place((x), (uint64_t)(uintptr_t)(p), (n), 1))
#define ttst_xfer_source_global(x, id, sizep) (ttst_xfer_api_->source_global((x), (id), (sizep)))
#define ttst_xfer_forward() (ttst_xfer_api_->direction == TTST_XFER_FORWARD)

#define TTST_XFER_GLOBAL_FORWARD(t, f) {TTST_XFER_KIND_GLOBAL, TTST_XFER_FORWARD, t, #f, f}
#define TTST_XFER_GLOBAL_BACKWARD(t, f) {TTST_XFER_KIND_GLOBAL, TTST_XFER_BACKWARD, t, #f, f}
#define TTST_XFER_TYPE_FORWARD(t, f) {TTST_XFER_KIND_TYPE, TTST_XFER_FORWARD, t, #f, f}
#define TTST_XFER_TYPE_BACKWARD(t, f) {TTST_XFER_KIND_TYPE, TTST_XFER_BACKWARD, t, #f, f}
#define TTST_XFER_TYPE_PLACE(t, f) {TTST_XFER_KIND_PLACE, TTST_XFER_BOTH, t, #f, f}
#define TTST_XFER_OWNS(t) {TTST_XFER_KIND_OWNS, TTST_XFER_BOTH, t, "owns", 0}
#define TTST_XFER_INIT(t, f) {TTST_XFER_KIND_INIT, TTST_XFER_FORWARD, t, #f, f}

/* The plugin's table and its entry point (the ELF entry, ttst-cc --xfer-plugin). */
#define TTST_XFER_PLUGIN(...)                                                                    \
  const struct ttst_xfer_api *ttst_xfer_api_;                                                    \
  static const struct ttst_xfer_entry ttst_xfer_entries_[] = {__VA_ARGS__};                      \
  static const struct ttst_xfer_table ttst_xfer_table_ = {                                       \
      TTST_XFER_MAGIC, TTST_XFER_VERSION, sizeof ttst_xfer_entries_ / sizeof ttst_xfer_entries_[0], \
      ttst_xfer_entries_};                                                                       \
  const struct ttst_xfer_table *ttst_xfer_plugin_entry(const struct ttst_xfer_api *api) {        \
    ttst_xfer_api_ = api;                                                                        \
    return &ttst_xfer_table_;                                                                    \
  }

/* Byte helpers for freestanding code (the compiler may also call memcpy/memset:
 * ttst-cc --xfer-plugin links definitions of those). */
static inline void ttst_xfer_copy(void *d, const void *s, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) ((uint8_t *)d)[i] = ((const uint8_t *)s)[i];
}
static inline uint64_t ttst_xfer_strlen(const char *s) {
  uint64_t n = 0;
  while (s[n]) ++n;
  return n;
}

#endif /* TTST_XFER_H */
