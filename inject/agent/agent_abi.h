/* agent_abi.h — the task descriptor shared by the host (inject/, trusted) and the
 * freestanding agent (inject/agent/, untrusted).
 *
 * The host maps one private region into the reversed (R) or future (F) process:
 *
 *   [agent image: text RX, rodata R, data+bss RW] [descriptor page RW]
 *   [blobs: metadata images, plugin image, input]  [output buffer RW] [heap RW]
 *   [guard pages, no access] [stack RW]
 *
 * and starts the agent's entry point on its own stack with rdi = address of the
 * descriptor. Every address below is an address in the agent's own process. The
 * agent writes only `status`, `output_used`, `detail`, `progress` and `heap_used`
 * here, and the output buffer;
 * the host reads them back with process_vm_readv before unmapping the region.
 *
 * Extending: add a task id below (stfw uses TTST_AGENT_TASK_STFW_*), register the
 * function with AGENT_TASK(id, fn) (agent/tasks.h) in any linked source, and pass
 * task-specific words in `arg`. Bump
 * TTST_AGENT_ABI_VERSION when a field changes meaning or place.
 *
 * Plain C (C99 and C++), only <stdint.h>: the agent includes it without libc. */
#ifndef TTST_AGENT_ABI_H
#define TTST_AGENT_ABI_H

#include <stdint.h>

#define TTST_AGENT_ABI_VERSION 3u
#define TTST_AGENT_MAGIC 0x544e454741545454ull /* "TTTAGENT" */
#define TTST_AGENT_ENTRY "ttst_agent_start"     /* the ELF entry symbol */

/* Ids 0-15, 102 and 104 are test tasks: registered only in the test agent
 * (//inject/agent:agent_testing, agent/test_tasks.c), never in the agent the
 * supervisor ships, whose table holds 100, 101 and 103 alone. */
enum ttst_agent_task {
  TTST_AGENT_TASK_EMPTY = 0,          /* return status 0 at once                     */
  TTST_AGENT_TASK_WRITE_NOTHING = 1,  /* compute over its own memory, write nothing  */
  TTST_AGENT_TASK_NULL_DEREF = 2,     /* read address 0                              */
  TTST_AGENT_TASK_ABORT = 3,          /* raise SIGABRT on itself                     */
  TTST_AGENT_TASK_STACK_OVERFLOW = 4, /* unbounded recursion into the guard pages    */
  TTST_AGENT_TASK_INFINITE_LOOP = 5,  /* never returns                               */
  TTST_AGENT_TASK_READ_PEER = 6,      /* copy arg[1] bytes at arg[0] of peer_pid into
                                         the output buffer with process_vm_readv      */
  TTST_AGENT_TASK_ALLOC = 7,          /* exercise the allocator: arg[0] blocks of
                                         arg[1] bytes; status = blocks obtained      */
  TTST_AGENT_TASK_FORK = 8,           /* try to escape: fork a process (forbidden)    */
  TTST_AGENT_TASK_SLEEP = 9,          /* block in nanosleep forever (no CPU used)     */
  TTST_AGENT_TASK_HELPER = 10,       /* its helper faults arg[0] fresh bytes of its heap
                                         in; detail[0] = bytes then resident         */
  TTST_AGENT_TASK_HELPER_CRASH = 11, /* a thread of its own dereferences NULL        */
  TTST_AGENT_TASK_HELPER_LEFT = 12,  /* finishes with a thread of its own running    */
  TTST_AGENT_TASK_HELPER_TWO = 13,   /* starts two threads of its own                */
  TTST_AGENT_TASK_KEEP_STORE = 14,   /* a 4 KiB block of its heap filled with byte
                                         arg[0]; detail[0] = its address            */
  TTST_AGENT_TASK_KEEP_CHECK = 15,   /* status 0 when the 4 KiB at arg[0] all hold
                                         byte arg[1]; detail[0] = a new block's
                                         address, detail[1] = its heap's start      */
  TTST_AGENT_TASK_COUNT_BUILTIN = 16, /* first id free for new built-in tasks        */
  TTST_AGENT_TASK_STFW_FORWARD = 100, /* reserved for the state-transfer engine      */
  TTST_AGENT_TASK_STFW_BACKWARD = 101,
  TTST_AGENT_TASK_STFW_BACKWARD_LOSSY = 102, /* TEST ONLY: the backward transfer, then
                                                one write lost (table.count off by one):
                                                what a buggy transfer leaves for the diff */
  TTST_AGENT_TASK_STFW_DELTA = 103,   /* the second run of a kept transfer (stfw_task.h) */
  TTST_AGENT_TASK_STFW_DELTA_LOSSY = 104, /* TEST ONLY: the second run, then, forward,
                                             one write lost (table.count off by one) */
};

enum ttst_agent_mode {
  TTST_AGENT_MODE_TEST = 0,
  TTST_AGENT_MODE_FORWARD = 1,  /* running in F, peer is P */
  TTST_AGENT_MODE_BACKWARD = 2, /* running in R, peer is F */
};

/* A byte range in the agent's process (addr 0 = absent). */
struct ttst_agent_range {
  uint64_t addr;
  uint64_t size;
};

/* Status values the agent itself reports (tasks may return any other value). */
#define TTST_AGENT_STATUS_OK 0
#define TTST_AGENT_STATUS_BAD_DESCRIPTOR (-1000)
#define TTST_AGENT_STATUS_UNKNOWN_TASK (-1001)

struct ttst_agent_desc {
  uint64_t magic;        /* TTST_AGENT_MAGIC                                 [host] */
  uint32_t abi_version;  /* TTST_AGENT_ABI_VERSION                           [host] */
  uint32_t task;         /* enum ttst_agent_task                             [host] */
  uint32_t mode;         /* enum ttst_agent_mode                             [host] */
  int32_t peer_pid;      /* the process to read (P for F, F for R), 0 = none [host] */
  int32_t self_pid;      /* the process the agent runs in                    [host] */
  uint32_t helpers;       /* helper threads the agent may start (0: none; agent/
                             helper.h): each traced from its first instruction,
                             to be joined before the agent finishes        [host] */
  struct ttst_agent_range region;    /* the whole private region             [host] */
  struct ttst_agent_range meta_self; /* metadata image of this process' version */
  struct ttst_agent_range meta_peer; /* metadata image of the peer's version    */
  struct ttst_agent_range plugin;    /* user transfer code image, if any        */
  struct ttst_agent_range output;    /* output buffer                           */
  struct ttst_agent_range heap;      /* the bump allocator's arena              */
  struct ttst_agent_range stack;     /* the agent's stack (guard pages below)   */
  uint64_t arg[8];                   /* task-specific arguments             [host] */
  /* Written by the agent: */
  int64_t status;         /* task result; meaningful once the agent finished    */
  uint64_t output_used;   /* bytes of the output buffer filled                  */
  uint64_t detail[4];     /* task-specific result words                         */
  struct ttst_agent_range input;     /* task-specific input bytes, if any   [host] */
  /* Written by the agent while it runs, read by the host now and then to show
   * progress (never to decide anything: a looping agent may write what it likes):
   * [0] phase (enum ttst_agent_progress_phase), [1] units done, [2] units in all
   * (objects; 0 = unknown), [3] reserved. */
  uint64_t progress[4];  /* the agent writes them through a volatile pointer */
  /* Written by the agent when its task returns: bytes of `heap` its allocator
   * used. A run in a region kept for a second run (inject's keep_region) leaves
   * them as they are: the second run's heap starts after them. */
  uint64_t heap_used;
};

enum ttst_agent_progress_phase {
  TTST_AGENT_PROGRESS_NONE = 0,
  TTST_AGENT_PROGRESS_COPY = 1,  /* reading the peer's memory */
  TTST_AGENT_PROGRESS_INDEX = 2,
  TTST_AGENT_PROGRESS_TYPE = 3,
  TTST_AGENT_PROGRESS_MAP = 4,
  TTST_AGENT_PROGRESS_WRITE = 5,  /* [1] objects written of [2] */
};

#endif /* TTST_AGENT_ABI_H */
