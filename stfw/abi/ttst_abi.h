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
      CONTAINER:   (appended to ABI 1; a reader that predates it rejects kind 7)
                   target: a struct/union/typedef name (every heap block a
                   pointer to it points to at its base is a container), or
                   a global or member holding a pointer (any depth:
                   `void **slab_list` reaches an array whose elements point to
                   the containers); arg: comma-separated, each optional:
                   "chunk=M" (a sibling member of the same struct holding the
                   size of each sub-object's chunk: a slab class's item size),
                   "count=N" (a sibling holding how many elements of the array
                   the holder points to are in use), "of=T|U" (the types
                   sub-objects are carved as, for the plan);
                   or target a function and arg "header=K": a header wrapper
                   (malloc(n + K), returns p + K) whose blocks hold one object
                   at +K after K header bytes
      POINTS_TO:   (kind 8; older readers reject it) target: a `void *` or
                   `char *` member; arg "to=T": the struct/union/typedef name
                   of what it really points to (typed, carved in containers)
      USED_N:      (kind 9) target: a pointer member; arg "used=N": a sibling
                   holding how many elements of the heap array it points to
                   are in use (the rest is not state)
      DROPPED:     (kind 10) target: "struct S.member" of the PREVIOUS version,
                   absent from this one; arg empty. Says a member dropped while
                   another of its type is added is not a rename (without it,
                   or RENAMED_FROM, the pair is refused as a suspected rename)
      KEEP_NEW:    (kind 11) target: a global; arg empty, or "at=m.n": the root
                   is the pointer member m.n of the struct the global points to
                   (the global itself is transferred). The new version's
                   start-up value of the global and the graph its typed pointers
                   reach are kept; the old version's graph is paired with it
                   (stfw/README.md "Start-up state v2 owns")
      TAGGED:      (kind 14) target: a pointer member "struct S.m" (a tagged
                   union: what m holds depends on a sibling); arg
                   "tag=F;V:T,V:T,..." with F a sibling member (integer, enum or
                   bitfield) and each V a decimal or 0x value of F mapped to T:
                   "int" (m holds an integer: its bits are carried unchanged) or
                   a struct/union/typedef/base type name (m holds a T *)
      EMBEDDED:    (kind 17) target: "struct S.m" (usually a flexible array
                   member); arg "to=T;when=F:MASK;at=TERM,TERM,...": when all
                   bits of MASK are set in sibling F (when= empty: always), a T
                   lives at m's offset plus the sum of the terms, each a decimal
                   (or 0x) constant N, a sibling's name (its value) or F:MASK:N
                   (N when all of MASK's bits are set in sibling F). Carved as a
                   sub-object of the container holding the S (memcached 1.6's
                   chunked item: its item_chunk after key, flags and CAS)
      FREE_SLOTS:  (kind 12) target: a pointer member (or global, except with
                   "count="); arg empty (it points to
                   free memory: a free slot, a container's unused tail),
                   "count=N" (it points to a heap array of pointers to free
                   slots, its first N elements in use: N a sibling), or
                   "link=M" (it points to the first element of a free list,
                   each linked to the next by member M of the element type:
                   free elements are not state but for what the program
                   reads before reusing them), or "upto=E" (members only:
                   the bytes from where it points to where sibling E points,
                   its container's end, are free: a bump allocator's unused part)
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
  TTST_ANNOT_CONTAINER = 7,    /* the heap blocks this pointer reaches are containers that
                                  carve typed sub-objects (slab pages, pool blocks)       */
  TTST_ANNOT_POINTS_TO = 8,    /* this void * / char * member holds a pointer to `arg`
                                  ("to=T"): typed and carved as a T *                     */
  TTST_ANNOT_USED_N = 9,       /* the heap array this pointer member points to has its
                                  first `arg` ("used=N", a sibling) elements in use: the
                                  rest is not state                                       */
  TTST_ANNOT_DROPPED = 10,     /* this struct member of the previous version is dropped on
                                  purpose (not renamed into a new member of its type)     */
  TTST_ANNOT_KEEP_NEW = 11,    /* the new version's start-up value of this global, and the
                                  objects it reaches, are kept (not overwritten by the old
                                  version's); pointers into the old graph are paired     */
  TTST_ANNOT_TAGGED = 14,      /* this pointer member's target type (or "it holds an
                                  integer") depends on a sibling field's value            */
  TTST_ANNOT_FREE_SLOTS = 12,  /* this pointer member points to free memory (free slots,
                                  a free list): not state; pointers into a container's
                                  free bytes are refused unless declared so               */
  TTST_ANNOT_EMBEDDED = 17,    /* a struct lives inside this member's bytes at an offset
                                  computed from siblings, when a sibling has given bits   */
};

/* ---------------------------------------------------------------------------
 * 2. Update points: section ".ttst.upoints" (not allocated). A sequence of uint64_t
 *    link-time addresses, one per TTST_UPDATE_POINT() expansion (more if the
 *    compiler duplicates it, e.g. by unrolling): an address right before the
 *    update point's flag check, inside the function that holds it after inlining.
 *    dwarfmeta maps each to its enclosing function; a
 *    thread blocked in a syscall whose innermost program frame is such a function
 *    is quiescent (§6).
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

/* 3a. Heap descriptors. Every block the program (or a shared library it loads)
 * gets from malloc, calloc, realloc, reallocarray, posix_memalign, aligned_alloc,
 * memalign, valloc, pvalloc, strdup or strndup is preceded, in band, by this
 * descriptor; the program's pointer is (char *)desc + sizeof(struct ttst_heap_desc).
 * `magic` is the last word, right before the program's bytes, so free() can tell a
 * tracked pointer from a foreign one by reading ptr[-8] only (for a glibc chunk
 * that word is the chunk's size field, never equal to TTST_HEAP_LIVE).
 *
 * Live descriptors form TTST_HEAP_STRIPES circular doubly linked lists whose
 * sentinels (`head`, magic TTST_HEAP_HEAD) live in the control block. A thread
 * links its allocations into "its" stripe (threads are dealt stripes round-robin);
 * `flags` bits 8..15 name the stripe a descriptor is on, so any thread can unlink
 * it. Each stripe has its own spin lock, held only around the 4–6 stores of a
 * link or unlink (never across a system call or a call into glibc), so a thread
 * stopped in a system call never holds one. Hence, whenever every thread is
 * quiescent (blocked in a system call, or stopped at an update point — see §4),
 * all lists are consistent and all locks are 0. An agent holding a bulk copy of
 * the program's writable memory enumerates all live objects by walking each
 * stripe from head.next back to the head (ttst_heap_reader.h does exactly this).
 * Freed descriptors have magic cleared to 0 before their memory is returned. */
struct ttst_heap_desc {
  struct ttst_heap_desc *prev;     /* live list of its stripe                   */
  struct ttst_heap_desc *next;
  uint64_t size;                   /* bytes the program asked for               */
  uint64_t site;                   /* run-time return address of the allocation
                                      call (the caller of malloc/strdup/...)    */
  uint64_t dyn_id;                 /* unique per process, from 1; increasing in
                                      each thread's allocation order (threads
                                      take blocks of 64 IDs from next_dyn_id);
                                      realloc keeps the block's dyn_id          */
  uint64_t origin_id;              /* dyn_id in the past version, 0 if none;
                                      written by the transfer in a future version */
  uint32_t flags;                  /* TTST_HEAP_F_* | stripe << 8               */
  uint32_t offset;                 /* bytes from the underlying glibc block's
                                      start to this descriptor (0 unless aligned
                                      allocation needed padding)                */
  uint64_t magic;                  /* TTST_HEAP_LIVE while allocated, else 0    */
};
#define TTST_HEAP_LIVE 0x4556494c50414548ull /* "HEAPLIVE" */
#define TTST_HEAP_HEAD 0x444145485041454eull /* "NEAPHEAD": list sentinel        */
#define TTST_HEAP_F_FROM_LIB 0x1u  /* site is outside the executable (libc, ...) */
#define TTST_HEAP_F_ZEROED 0x2u    /* calloc                                     */
#define TTST_HEAP_F_ALIGNED 0x4u   /* posix_memalign/aligned_alloc/memalign/valloc */
#define TTST_HEAP_F_REALLOC 0x8u   /* moved by realloc (dyn_id, origin_id kept)  */
#define TTST_HEAP_STRIPE_SHIFT 8u
#define TTST_HEAP_STRIPE_OF(flags) (((flags) >> TTST_HEAP_STRIPE_SHIFT) & 0xffu)
/* What a tracked block of n bytes takes of glibc's heap: its bytes, the descriptor
 * and glibc's 8-byte chunk header, rounded to glibc's 16 (glibc's request2size).
 * The runtime's cache and the transfer's announcement of its allocations
 * (__ttst_transfer_reserve, stfw/xfer) count with it. */
#define TTST_HEAP_CHUNK_OF(n) (((n) + sizeof(struct ttst_heap_desc) + 8 + 15) & ~(uint64_t)15)

/* One list per stripe, 128 bytes so two threads on different stripes never share
 * a cache line. */
struct ttst_heap_stripe {
  struct ttst_heap_desc head;     /* [runtime] sentinel; head.size = 0           */
  volatile uint32_t lock;         /* [runtime] 0 free, 1 held (spin lock)        */
  uint32_t reserved0;
  uint64_t live;                  /* [runtime] descriptors on this list          */
  uint64_t reserved[6];
};

/* 3b. The control block. */
struct ttst_runtime {
  uint64_t magic;                 /* TTST_RUNTIME_MAGIC                          */
  uint32_t abi_version;           /* TTST_ABI_VERSION                            */
  uint32_t desc_size;             /* sizeof(struct ttst_heap_desc)               */
  volatile uint32_t update_requested; /* [supervisor sets, runtime clears] §4    */
  volatile uint32_t updating;     /* [runtime sets, supervisor clears] §5        */
  uint64_t next_dyn_id;           /* [runtime] start of the next block of 64 IDs:
                                     every dyn_id handed out is below it         */
  uint64_t exe_text_start;        /* [runtime] run-time [start, end) of the
                                     executable's text: sites outside it get
                                     TTST_HEAP_F_FROM_LIB                        */
  uint64_t exe_text_end;
  uint64_t past_pid;               /* [supervisor] in a future version, from the
                                     commit point on: the past version's pid (§5) */
  uint64_t reserved1;
  struct ttst_heap_stripe stripes[TTST_HEAP_STRIPES]; /* at offset 64            */
};

/* ---------------------------------------------------------------------------
 * 4. The update-point stop protocol (past version P, and the future version F).
 *
 *    TTST_UPDATE_POINT() is `if (__ttst_runtime.update_requested) slow_path();`.
 *    The slow path executes one *marker system call*, a raw `syscall` instruction
 *    with
 *        rax = orig_rax = TTST_MARKER_SYSCALL (getppid: harmless, allowed by
 *              seccomp profiles, ignores its arguments),
 *        rdi = TTST_MARKER_MAGIC,  rsi = run-time address of __ttst_runtime,
 *        rdx = TTST_MARKER_PAST or TTST_MARKER_FUTURE,
 *        r10 = the update point's run-time return address (inside the function
 *              holding the update point),
 *    and then, in P, clears update_requested itself (a self-clearing flag).
 *
 *    The supervisor, to stop a busy P:
 *      1. PTRACE_SEIZE every thread (never PTRACE_O_EXITKILL on P), then
 *         PTRACE_INTERRUPT each and run the quiescence check (§6). If every thread
 *         is quiescent, nothing is written at all.
 *      2. Otherwise write update_requested = 1 (one 4-byte write), and resume the
 *         non-quiescent threads with PTRACE_SYSCALL (quiescent ones stay stopped).
 *      3. A thread is stopped at an update point when it is in a syscall-entry
 *         stop with orig_rax == TTST_MARKER_SYSCALL, rdi == TTST_MARKER_MAGIC and
 *         rsi == &__ttst_runtime. Any other syscall stop: PTRACE_SYSCALL again.
 *         Keep it in that stop; R is forked from here (R therefore also holds
 *         update_requested = 1: P and R agree at diff time).
 *      4. If a thread neither stops at a marker nor blocks quiescently within the
 *         bound, give up: the update is refused.
 *      5. Roll back or give up: write update_requested = 0, then let every thread
 *         go (PTRACE_DETACH). A thread in the marker's entry stop executes getppid
 *         (rax = ppid, which the slow path ignores) and continues after its update
 *         point as if nothing happened.
 *    If the supervisor dies at any moment, the kernel detaches every thread: a
 *    thread in the marker stop runs getppid and goes on; update_requested is
 *    cleared by the next update point any thread reaches (the program only ever
 *    pays one extra getppid per thread that passes an update point before that).
 *    No signal is ever sent and no SIGTRAP can be left pending: the protocol uses
 *    syscall stops and PTRACE_INTERRUPT only.
 * ------------------------------------------------------------------------- */
#define TTST_MARKER_SYSCALL 110 /* SYS_getppid on x86-64 */
#define TTST_MARKER_MAGIC 0x7474737455504e54ull /* "TNPUstt" */
#define TTST_MARKER_PAST 1u
#define TTST_MARKER_FUTURE 2u

/* ---------------------------------------------------------------------------
 * 5. Future mode. The supervisor execs the new version with the environment
 *    variable TTST_FUTURE_ENV set to "1" (it is its responsibility to add it to
 *    the environment it passes to execve). Before main() and before any other
 *    constructor of the program (constructor priority 101), the runtime removes
 *    it from `environ` (the program never sees it in getenv/environ) and sets
 *    updating = 1 and update_requested = 1. Therefore:
 *      - ttst_is_updating() is true during start-up: the program skips creating
 *        what it inherits (listening sockets, pid files);
 *      - the first TTST_UPDATE_POINT() reached makes the marker system call with
 *        rdx = TTST_MARKER_FUTURE: that syscall-entry stop is where the state is
 *        transferred in, and where F resumes on commit.
 *    The supervisor clears `updating` (and `update_requested`) when the state
 *    transfer is complete, then resumes F. If F returns from the marker while
 *    `updating` is still set (no supervisor, or it died), the runtime writes one
 *    line to stderr and exits with status TTST_EXIT_NO_SUPERVISOR: a future
 *    version never runs on with half a state.
 * ------------------------------------------------------------------------- */
/*    The commit, against a supervisor killed at any moment (every window ends
 *    with exactly one version serving, and never with none):
 *      1. write past_pid into F (F still dies with the supervisor: PTRACE_O_EXITKILL);
 *      2. drop F's PTRACE_O_EXITKILL;
 *      3. aim P's registers at exit_group (P, still stopped, is now sacrificed);
 *      4. clear `updating` and `update_requested` in F, detach F;
 *      5. kill P.
 *    An F that returns from its marker with `updating` still set (its supervisor
 *    died) serves if past_pid is gone within TTST_PAST_EXIT_WAIT_MS (steps 3-5: the
 *    state is in F only), else exits with TTST_EXIT_NO_SUPERVISOR (steps 1-2: P
 *    runs on, as in any rollback). */
#define TTST_PAST_EXIT_WAIT_MS 1000
#define TTST_FUTURE_ENV "TTST_FUTURE_VERSION"
#define TTST_EXIT_NO_SUPERVISOR 86

/* ---------------------------------------------------------------------------
 * 6. Quiescence (what the supervisor decides for a thread it interrupted; see
 *    supervisor/quiesce/). A thread is
 *      - AT AN UPDATE POINT if it is in the marker stop of §4;
 *      - QUIESCENT if it was interrupted inside a system call (orig_rax >= 0 and
 *        rax is -ERESTARTSYS/-ERESTARTNOINTR/-ERESTARTNOHAND/-ERESTART_RESTARTBLOCK
 *        or the syscall has not returned) made by the own code of a function
 *        instance holding an update point (§2): the innermost function instance
 *        in DWARF (an out-of-line DW_TAG_subprogram or a DW_TAG_inlined_subroutine
 *        copy; inlined copies of `artificial` functions are transparent) around the
 *        call site is the innermost one around an update point. The call site is
 *        rip (the `syscall` instruction) if rip is in the executable's text, else
 *        the return address minus one of the innermost program frame: the first
 *        word in the 4 KiB at and above rsp that points into the executable's text
 *        right after a call instruction (the return address pushed when the
 *        program called into libc). A handler inlined into the event loop is thus
 *        not the loop, though it shares its symbol. ttst-cc turns off the
 *        compilers' merging of identical code (cross-jumping, tail merging, gcc's
 *        identical-function folding), which could make one call instruction serve
 *        two instances;
 *      - also QUIESCENT if the program declared a poller path (§7) and the whole
 *        call stack from the system call to an update point's function is that
 *        path: the stack is unwound with the DWARF CFI (.eh_frame) of every
 *        module it passes (libc's wrapper included; any rule other than
 *        "CFA = rsp/rbp + N, return address and rbp saved at CFA + N or rbp
 *        unchanged" ends the unwind: not quiescent), its innermost program frame
 *        must be the one the stack scan above found (same return address, same
 *        slot), every caller frame's return address must follow a call
 *        instruction, and the function instances around the call sites, inlined
 *        copies included, innermost first, must be fn, ..., f1 and then an
 *        instance holding an update point, with nothing between. A request
 *        handler calling the poller (through the same function pointer or not),
 *        inlined or not, adds an instance and breaks the match. ttst-cc turns
 *        off sibling-call optimisation (-fno-optimize-sibling-calls), so a
 *        handler cannot leave the stack by a tail call into the poller;
 *      - otherwise BLOCKED (in a system call elsewhere) or RUNNING.
 *    Nothing is written to a quiescent thread; detaching resumes its system call
 *    through the kernel's own restart, so it never sees EINTR. (epoll_wait and
 *    epoll_pwait end with -EINTR on any ptrace stop; the probe restarts them by
 *    hand — rax = orig_rax, rip -= 2 — unless a real signal is pending.)
 *    Note for memory comparisons: glibc registers an rseq area per thread
 *    (thread pointer + __rseq_offset, 32 bytes) whose cpu_id fields the KERNEL
 *    rewrites whenever the thread is scheduled on another CPU, probe or not.
 * ------------------------------------------------------------------------- */

/* ---------------------------------------------------------------------------
 * 7. Pollers: section ".ttst.pollers" (not allocated). Declares an event loop
 *    whose idle wait is not in the update point's own function but in a helper it
 *    reaches through a chain of calls (nginx: ngx_single_process_cycle ->
 *    ngx_process_events_and_timers -> (*ngx_event_actions.process_events) =
 *    ngx_epoll_process_events -> epoll_wait). A sequence of records:
 *
 *      uint8_t  tag      TTST_POLLER_TAG ('P')
 *      uint8_t  version  TTST_POLLER_VERSION (1; a section added to ABI 1, which
 *                        older readers ignore: TTST_ABI_VERSION stays 1)
 *      char     path[]   NUL-terminated: function names separated by commas and/or
 *                        spaces, "f1, f2, ..., fn": f1 is called by the own code of
 *                        a function instance holding an update point, each f(i+1)
 *                        by the own code of f(i), and fn is the poller
 *
 *    written by TTST_POLLER(f1, ..., fn) (ttst.h) or by ttst-cc when TTST_POLLER
 *    is set at an executable's link. Meaning (the user's promise, as for
 *    TTST_UPDATE_POINT): a blocking system call made by the own code of fn, when
 *    the call stack above it is exactly this chain up to an update point's
 *    function, is the loop's idle wait for its next event. The supervisor checks
 *    the whole chain on the stack (§6), it never assumes it.
 *    Library pollers: fn may be a function the program imports from a shared
 *    library (an undefined FUNC of its .dynsym; memcached 1.2: "event_base_loop",
 *    libevent's loop, whose wait is in its static epoll_dispatch). The path then
 *    means: innermost a run of libc frames (the system-call wrapper; none needed),
 *    then frames inside the one mapped library whose .dynsym defines fn, the
 *    outermost of them inside fn (the program entered the library through fn),
 *    then f(n-1) ... f1, an update point's function, as above. The library frames
 *    are unwound by its .eh_frame (no debug info needed); a program frame among
 *    them (a callback: fn -> callback -> blocking call) is mid-request. The
 *    promise covers every blocking call inside the library on such a stack.
 * ------------------------------------------------------------------------- */
#define TTST_POLLERS_SECTION ".ttst.pollers"
#define TTST_POLLER_TAG 0x50u
#define TTST_POLLER_VERSION 1u

#endif /* TTST_ABI_H */
