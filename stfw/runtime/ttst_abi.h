/* ttst_abi.h — the binary contract between a program built with ttst-cc and the
 * tools that read it from outside (dwarfmeta, the supervisor, diff, the agent).
 *
 * Everything here is read from ELF files or from bulk copies of a process's memory,
 * never by calling into the process, so every layout is fixed-size, little-endian
 * x86-64, and versioned. Owner: the runtime issue (stfw/runtime). Any change bumps
 * TTST_ABI_VERSION and must be mirrored by every reader in the same commit.
 *
 * Plain C (C99 and C++ compatible), no includes beyond <stdint.h>: the freestanding
 * agent includes it too. */
#ifndef TTST_ABI_H
#define TTST_ABI_H

#include <stdint.h>

#define TTST_ABI_VERSION 1u

/* ---------------------------------------------------------------------------
 * 1. Annotations: section ".ttst.annot" (SHT_PROGBITS, not allocated, so it costs
 *    nothing at run time and holds no relocations). A sequence of records, no
 *    padding between them:
 *
 *      uint8_t  tag      TTST_ANNOT_TAG ('T')
 *      uint8_t  version  TTST_ABI_VERSION
 *      uint8_t  kind     enum ttst_annot_kind
 *      char     file[]   NUL-terminated: __FILE__ of the annotating translation unit
 *      char     target[] NUL-terminated: what is annotated (grammar below)
 *      char     arg[]    NUL-terminated: kind-specific argument, may be empty
 *
 *    target grammar:
 *      name              a global visible from `file` (file-static preferred over
 *                        external when both exist), or a function for ALLOCATOR /
 *                        DEALLOCATOR
 *      func::name        a function-static variable of `func`
 *      struct tag.member a member of a struct/union type (".a.b" for nesting);
 *                        also "union tag.member" and "typedef-name.member"
 *    arg per kind:
 *      IXFER, PXFER, NO_TRANSFER: empty
 *      RENAMED_FROM: the state ID the object had in the previous version
 *      ALLOCATOR:   "size=N" (1-based parameter holding the byte count)
 *                   optionally ",count=M" (calloc-style element count)
 *      DEALLOCATOR: "ptr=N" (1-based parameter holding the pointer)
 * ------------------------------------------------------------------------- */
#define TTST_ANNOT_SECTION ".ttst.annot"
#define TTST_ANNOT_TAG 0x54u

enum ttst_annot_kind {
  TTST_ANNOT_IXFER = 1,        /* copy as bytes, never translate pointers (paper's IXFER) */
  TTST_ANNOT_PXFER = 2,        /* treat as a pointer and translate it (paper's PXFER)     */
  TTST_ANNOT_RENAMED_FROM = 3, /* this object was called `arg` in the previous version    */
  TTST_ANNOT_NO_TRANSFER = 4,  /* do not transfer: the new version initialises it         */
  TTST_ANNOT_ALLOCATOR = 5,    /* this function allocates (pool / region allocators)      */
  TTST_ANNOT_DEALLOCATOR = 6,  /* this function frees                                     */
};

/* ---------------------------------------------------------------------------
 * 2. Update points: section ".ttst.upoints" (not allocated). A sequence of uint64_t
 *    link-time addresses, one per TTST_UPDATE_POINT() expansion: the address of the
 *    update point's flag check. dwarfmeta maps each to its enclosing function; a
 *    thread blocked in a syscall whose frame-pointer chain reaches such a function
 *    is quiescent.
 * ------------------------------------------------------------------------- */
#define TTST_UPOINTS_SECTION ".ttst.upoints"

/* ---------------------------------------------------------------------------
 * 3. The runtime control block: the global object named TTST_RUNTIME_SYMBOL,
 *    present in every program linked by ttst-cc (its absence means "not built with
 *    ttst-cc"). The supervisor finds it through the ELF symbol table plus the load
 *    bias, reads it with process_vm_readv, and writes only the fields marked
 *    [supervisor]. The fields marked [runtime] change only inside the program.
 * ------------------------------------------------------------------------- */
#define TTST_RUNTIME_SYMBOL "__ttst_runtime"
#define TTST_RUNTIME_MAGIC 0x31544e5552545454ull /* "TTTRUNT1" */
#define TTST_HEAP_STRIPES 16u

/* Every tracked heap block is preceded by this descriptor, in band. Live
 * descriptors form TTST_HEAP_STRIPES circular doubly linked lists whose sentinels
 * live in the control block, so an agent that holds a bulk copy of the program's
 * writable memory enumerates every live object by walking the lists. */
struct ttst_heap_desc {
  uint64_t magic;                  /* TTST_HEAP_LIVE while allocated            */
  uint64_t size;                   /* bytes the program asked for               */
  uint64_t site;                   /* run-time return address of the alloc call */
  uint64_t dyn_id;                 /* monotonic per process, from 1             */
  uint64_t origin_id;              /* dyn_id in the past version, 0 if none     */
  struct ttst_heap_desc *prev;     /* live list (stripe = dyn_id % STRIPES)     */
  struct ttst_heap_desc *next;
  uint32_t flags;                  /* TTST_HEAP_F_*                             */
  uint32_t offset;                 /* bytes from the underlying block's start to
                                      this descriptor (memalign & co.)          */
};
#define TTST_HEAP_LIVE 0x4556494c50414548ull /* "HEAPLIVE" */
#define TTST_HEAP_F_FROM_LIB 0x1u  /* allocated by a shared library (e.g. libc)  */
#define TTST_HEAP_F_ZEROED 0x2u    /* calloc                                    */

struct ttst_runtime {
  uint64_t magic;                 /* TTST_RUNTIME_MAGIC                         */
  uint32_t abi_version;           /* TTST_ABI_VERSION                           */
  uint32_t desc_size;             /* sizeof(struct ttst_heap_desc)              */
  volatile uint32_t update_requested; /* [supervisor] nonzero: stop at the next
                                         update point                           */
  volatile uint32_t updating;     /* [runtime, cleared by supervisor] nonzero in
                                     a future version until its state is in     */
  uint64_t next_dyn_id;           /* [runtime] next dynamic ID to hand out      */
  uint64_t live_objects;          /* [runtime] count of live tracked blocks     */
  struct ttst_heap_desc heads[TTST_HEAP_STRIPES]; /* [runtime] list sentinels   */
};

#endif /* TTST_ABI_H */
