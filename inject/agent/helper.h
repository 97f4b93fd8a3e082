/* helper.h — the agent's one helper thread, on the machine's other CPU: it faults
 * in the fresh pages the agent is about to fill (its copy of the peer, its tables,
 * the future version's new heap), so the kernel clears them there while the agent
 * computes or copies here. On a VM that backs guest memory lazily the first touch
 * of a page costs microseconds: at a million objects, half of a transfer's time.
 * It also runs functions the agent hands it (agent_beside): the engine's second
 * writer. Untrusted agent code.
 *
 * The host allows it (ttst_agent_desc.helpers): the new thread is traced from its
 * first instruction, and the agent must have joined it before it finishes (the
 * host checks). Faulting in (madvise MADV_POPULATE_WRITE, Linux 5.14+; refused:
 * nothing is done) writes no byte, so it may work on memory the agent or the
 * program is filling at the same moment. */
#ifndef TTST_AGENT_HELPER_H
#define TTST_AGENT_HELPER_H

#include <stdint.h>

struct ttst_agent_desc;

/* The host's allowance (the descriptor's `helpers`); before any other call. */
void agent_helper_init(const struct ttst_agent_desc *d);
/* Queues [addr, addr + size) to be faulted in, from its end down (the agent fills
 * such a range from its start up: they meet without contending). The helper is
 * started at the first call. Returns 0 when queued, -1 when not (no helper
 * allowed, or too many ranges queued): it is only ever faster, never needed. */
int agent_prefault(uint64_t addr, uint64_t size);
/* Runs fn(arg) on the helper — before the rest of any range it is faulting in when
 * queued (a range is only ever faster; the agent waits for functions): 0 when queued,
 * -1 when not (no helper allowed, or too many jobs queued: the caller does the
 * work itself). The function runs on a 1 MiB stack. Queuing is not
 * thread-safe: a function run here may queue (agent_prefault) only while the
 * agent's thread cannot (the engine's Env calls are taken one at a time). */
int agent_beside(void (*fn)(void *arg), void *arg);
/* Waits until every function queued so far (agent_beside) has returned; ranges
 * may still be faulted in. */
void agent_beside_wait(void);
/* Waits until the helper has done every job queued so far (ranges, functions). */
void agent_helper_wait(void);
/* Ends the helper and waits for its exit (the agent's finish calls it). */
void agent_helper_join(void);
/* A thread of this process running fn() on the stack [stack, stack + size), then
 * exiting; *tid_word holds its id until it exits (then 0, with a futex wake).
 * Returns its id or -errno. What the helper is started with; the test tasks'
 * misbehaving threads too. */
long agent_thread_start(void (*fn)(void), void *stack, uint64_t size, int32_t *tid_word);

#endif
