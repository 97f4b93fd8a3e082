/* stfw_task.h — how the supervisor asks the agent for a state transfer, and what
 * the agent answers. The contract between supervisor/ (host, trusted) and stfw/
 * (runs inside the agent, untrusted). Plain C, <stdint.h> only.
 *
 * The supervisor runs the agent (inject/agent_session.h) with
 *   task = TTST_AGENT_TASK_STFW_FORWARD  in F (mode FORWARD, peer = P), or
 *          TTST_AGENT_TASK_STFW_BACKWARD in R (mode BACKWARD, peer = F);
 *   meta_self / meta_peer = dwarfmeta metadata images (dwarfmeta/image.h) of this
 *          process's executable and of the peer's;
 *   plugin = the user transfer plugin's ELF (--xfer, stfw/xfer/plugin/ttst_xfer.h),
 *            absent without --xfer;
 *   arg[]  = the words below.
 * F and R are stopped at their update point (the marker system call of
 * stfw/abi/ttst_abi.h §4) while the agent runs; P is stopped and is only read.
 *
 * Result: desc.status is one of TTST_STFW_STATUS_*; desc.detail[] holds the
 * counters below; the output buffer holds, for any status other than OK, one
 * NUL-terminated line a sysadmin can read ("invariant: counter.sets = 70000 does
 * not fit in short (v2's type)") followed by more NUL-terminated lines of detail. */
#ifndef TTST_STFW_TASK_H
#define TTST_STFW_TASK_H

#include <stdint.h>

enum ttst_stfw_arg {
  TTST_STFW_ARG_SELF_BIAS = 0,    /* load bias of this process's executable       */
  TTST_STFW_ARG_PEER_BIAS = 1,    /* load bias of the peer's executable           */
  TTST_STFW_ARG_SELF_RUNTIME = 2, /* run-time address of __ttst_runtime, here     */
  TTST_STFW_ARG_PEER_RUNTIME = 3, /* run-time address of __ttst_runtime, in peer  */
  TTST_STFW_ARG_FLAGS = 4,        /* TTST_STFW_F_*                                */
  TTST_STFW_ARG_PEER_TP = 5,      /* the peer's (main) thread pointer, fs_base:
                                     where its thread-local globals are; 0 = none */
  TTST_STFW_ARG_SELF_SP = 6,      /* forward: rsp of this process's stopped thread
                                     (its frames at the update point are remapped,
                                     stfw/xfer/engine_frames.cc); 0 = not examined */
  TTST_STFW_ARG_SELF_FP = 7,      /* forward: its rbp (frame-pointer chain, names) */
  /* Backward, the same two words: [lo, hi) of the peer left out of its copy (F's
   * agent region, kept for pre-copy's second run: no state of F); 0, 0: none. */
  TTST_STFW_ARG_PEER_SKIP_LO = 6,
  TTST_STFW_ARG_PEER_SKIP_HI = 7,
};

/* The agent's input range (both directions, optional): the frames of the peer's
 * and of this process's stopped thread at the update point, innermost first, as
 * the supervisor unwound them with the call-frame information
 * (supervisor/past_frames.h). Their locals, as DWARF places them, are the roots of
 * the stack (stfw/xfer/frame_roots.cc). A header, then peer_count frames of the
 * peer, then self_count of this process. */
#define TTST_STFW_FRAMES_MAGIC 0x314d524654535454ull /* "TTSTFRM1" */
/* The most frames of one thread unwound and passed (peer_count, self_count): the
 * supervisor's unwinding bound and the engine's parsing bound, one number. */
#define TTST_STFW_FRAMES_MAX 64
struct ttst_stfw_frames_header {
  uint64_t magic;
  uint32_t peer_count, self_count;
};
struct ttst_stfw_frame {
  uint64_t pc;      /* run-time: frame 0 its rip, callers their return address */
  uint64_t cfa;     /* the frame's CFA; 0: unknown                             */
  uint64_t known;   /* bit r set: reg[r] holds the frame's register r          */
  uint64_t reg[17]; /* by DWARF number: 0 rax 1 rdx 2 rcx 3 rbx 4 rsi 5 rdi 6 rbp
                       7 rsp 8..15 r8..r15 16 rip                               */
};

/* After the frames, optional (issue 19): the other threads, paired by the
 * supervisor (its thread_pairs.h: by start function and creation order), as their
 * thread pointers (fs_base): count pairs of { peer's thread, this process's
 * counterpart }. Each pair's thread-local globals are transferred between their
 * blocks (the executable's, module 1, found through each thread's dtv). */
#define TTST_STFW_THREADS_MAGIC 0x3153445254535454ull /* "TTSTRDS1" */
struct ttst_stfw_threads_header {
  uint64_t magic;
  uint64_t count; /* then count x { uint64_t peer_tp, self_tp }, then count
                     frames blocks (ttst_stfw_frames_header and its frames), one
                     per pair in the same order: those threads' stack roots */
};

#define TTST_STFW_F_VERBOSE 0x1u /* reserved, no effect yet: no supervisor sets it and the
                                    engine writes no per-object lines */
/* Pre-copy stage 2: keep the transfer for a second run (the supervisor keeps the
 * agent's region too, inject/agent_session.h keep_region). Status OK: the output
 * holds a line "kept ADDR" (TTST_STFW_KEPT_PREFIX, hex): the kept run, the
 * TTST_AGENT_TASK_STFW_DELTA task's argument. */
#define TTST_STFW_F_KEEP 0x2u
#define TTST_STFW_KEPT_PREFIX "kept "

/* TTST_AGENT_TASK_STFW_DELTA: the second run of a kept transfer, in the region the
 * first run kept (stfw/xfer/engine.h transfer_delta). Forward in F (peer P,
 * stopped again), backward in the first run's R (into which the
 * supervisor copied P's changed pages; peer F after its second run). Arguments:
 * arg[] = the words of enum ttst_stfw_delta_arg.
 * Input: the header, then patch_count [lo, hi) pairs of the peer that changed
 * since the first run, own_count pairs of this process written since (backward:
 * P's changed pages in R), then frames_size bytes of frames
 * (TTST_STFW_FRAMES_MAGIC ...; 0: the first run's), then bytes_size bytes: the
 * changed ranges' bytes, back to back in their order, as the supervisor read them
 * from the peer (0: the agent reads them from the peer now). Result: as a
 * transfer's; TTST_STFW_STATUS_DELTA_REFUSED when the second run cannot follow
 * the change (the supervisor then transfers everything again). */
#define TTST_STFW_DELTA_MAGIC 0x32544c4454535454ull /* "TTSTDLT2" */
enum ttst_stfw_delta_arg {
  TTST_STFW_DELTA_ARG_KEPT = 0,      /* the kept run                                 */
  TTST_STFW_DELTA_ARG_SELF_BIAS = 1, /* this process's executable's load bias (the
                                        kept run's: a mismatch is bad input)        */
  TTST_STFW_DELTA_ARG_LAST = 2,      /* 1: no run follows this one (its new objects
                                        are not merged into the table for a next)   */
};
struct ttst_stfw_delta_header {
  uint64_t magic;
  uint64_t patch_count, own_count, frames_size, bytes_size;
};

enum ttst_stfw_status {
  TTST_STFW_STATUS_OK = 0,          /* state transferred                            */
  TTST_STFW_STATUS_INVARIANT = 1,   /* a value or pointer cannot be carried over    */
  TTST_STFW_STATUS_AMBIGUOUS = 2,   /* state the framework will not guess about     */
  TTST_STFW_STATUS_BAD_INPUT = 3,   /* metadata images / runtime block unusable     */
  TTST_STFW_STATUS_NO_MEMORY = 4,   /* the agent or the program ran out of memory   */
  TTST_STFW_STATUS_NO_DESCRIPTOR = 5, /* a /proc file could not be opened: this
                                         process has no free descriptor (EMFILE)   */
  TTST_STFW_STATUS_NO_FILE_TABLE = 6, /* ... the system's file table is full (ENFILE) */
  TTST_STFW_STATUS_DELTA_REFUSED = 7, /* a second run (pre-copy stage 2) cannot follow
                                         what changed: nothing of it written, the
                                         transfer is redone from a fresh process   */
};

enum ttst_stfw_detail {
  TTST_STFW_DETAIL_OBJECTS = 0,     /* state objects transferred                    */
  TTST_STFW_DETAIL_BYTES = 1,       /* bytes written                                */
  TTST_STFW_DETAIL_POINTERS = 2,    /* pointers translated                          */
  TTST_STFW_DETAIL_TRANSFORMS = 3,  /* type transformations applied                 */
};

/* Forward, status OK: after the line of figures, one NUL-terminated line per start-up
 * object of F the transfer superseded (stfw/xfer/engine_frames.cc):
 *   "superseded ADDR SIZE COUNTERPART FREED"   (hex, hex, hex (0: none), 0 or 1)
 * The supervisor remaps F's registers with them and checks F's stack. */
#define TTST_STFW_SUPERSEDED_PREFIX "superseded "

/* Forward, after the superseded lines: one line per scalar local of F's frames
 * (paired with a scalar local of P's at its update point: `int epfd`, `long served`
 * of main) that lives in a callee-saved register, where the agent cannot write it:
 *   "local_register FRAME REG VALUE"   (decimal frame index of F's frames as given,
 *                                       innermost 0; DWARF register; hex value)
 * The supervisor writes VALUE where that frame's register is: the live register,
 * or the slot an inner frame saved it in. */
#define TTST_STFW_LOCAL_REGISTER_PREFIX "local_register "

/* Forward, after the figures and the superseded lines: one line per global that
 * looks like start-up state v2 built again, longer (a command table one entry
 * longer): a suggestion for TTST_KEEP_NEW, never acted on.
 *   "keep_new_candidate STATE_ID" */
#define TTST_STFW_KEEP_NEW_CANDIDATE_PREFIX "keep_new_candidate "

/* The forward result line (status OK) also says which descriptors belonged to the
 * past version's library instances and are used by nothing in F after the switch
 * (stfw/README.md, "Library state"): the word "past_library_fds=" followed by
 * descriptor numbers separated by commas, or "-" when none was identified. The
 * supervisor may close them in F at commit (they are F's inherited copies; P's
 * own are never touched). */
#define TTST_STFW_RESULT_PAST_LIBRARY_FDS "past_library_fds="

/* With a transfer plugin (--xfer). Backward, status OK: after the figures, one line
 * per plugin target that has a forward function but no backward one, whose
 * objects were therefore not validated:
 *   "unvalidated TARGET N"      (the target as the plugin names it, N objects)
 * While a plugin function runs, the output's first line is
 *   "running the transfer plugin's FUNCTION on OBJECT"
 * so a crash or hang in it (the output is read back then too) names it. */
#define TTST_STFW_UNVALIDATED_PREFIX "unvalidated "
#define TTST_STFW_PLUGIN_RUNNING "running the transfer plugin's "
// A refusal's message ends with this and the line(s) that resolve it (stfw/xfer/refusal_advice.cc).
#define TTST_STFW_FIX_MARKER "; fix: "

#endif /* TTST_STFW_TASK_H */
