/* start.c — the agent's entry point and finish protocol. Untrusted agent code.
 *
 * The host starts ttst_agent_start with rdi = descriptor and rsp = top of the
 * agent's own stack. The agent checks the descriptor, runs the selected task, stores
 * its status in the descriptor and signals completion by stopping itself with
 * tgkill(SIGSTOP): the host sees a SIGSTOP signal-delivery stop sent by the agent's
 * own process, suppresses it, and reads the results. No other channel exists. */
#include "inject/agent/agent_abi.h"
#include "inject/agent/alloc.h"
#include "inject/agent/helper.h"
#include "inject/agent/sys.h"
#include "inject/agent/tasks.h"

__attribute__((noreturn)) void ttst_agent_finish(void) {
  long pid = agent_syscall3(AGENT_SYS_getpid, 0, 0, 0);
  long tid = agent_syscall3(AGENT_SYS_gettid, 0, 0, 0);
  for (;;) agent_syscall3(AGENT_SYS_tgkill, pid, tid, AGENT_SIGSTOP);
}

__attribute__((noreturn, used)) void ttst_agent_main(struct ttst_agent_desc *desc) {
  if (desc->magic != TTST_AGENT_MAGIC || desc->abi_version != TTST_AGENT_ABI_VERSION) {
    desc->status = TTST_AGENT_STATUS_BAD_DESCRIPTOR;
    ttst_agent_finish();
  }
  agent_alloc_init(desc->heap.addr, desc->heap.size);
  agent_helper_init(desc);
  desc->output_used = 0;
  agent_task_fn fn = agent_find_task(desc->task);
  desc->status = fn ? fn(desc) : TTST_AGENT_STATUS_UNKNOWN_TASK;
  agent_helper_join(); /* the host checks that no helper outlives the agent */
  desc->heap_used = agent_alloc_used();
  ttst_agent_finish();
}

/* Entry: align the stack, clear the frame pointer, call main (never returns). */
__asm__(
    ".text\n"
    ".globl ttst_agent_start\n"
    ".type ttst_agent_start,@function\n"
    "ttst_agent_start:\n"
    "  xor %ebp, %ebp\n"
    "  and $-16, %rsp\n"
    "  call ttst_agent_main\n"
    "  ud2\n"
    ".size ttst_agent_start, .-ttst_agent_start\n");
