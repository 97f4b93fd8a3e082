/* test_tasks.c — TEST ONLY: the built-in test tasks, which exercise every outcome
 * the host must classify (finish, crash, abort, stack overflow, hang, escape) and
 * a few helpers (read the peer, allocate). Linked only into the test agent
 * (//inject/agent:agent_testing), never into the agent the supervisor ships:
 * several crash or hang on purpose, and none transfers state. Untrusted agent code. */
#include "inject/agent/alloc.h"
#include "inject/agent/helper.h"
#include "inject/agent/sys.h"
#include "inject/agent/tasks.h"

static int64_t task_empty(struct ttst_agent_desc *d) {
  (void)d;
  return TTST_AGENT_STATUS_OK;
}

/* Touches its stack, heap and image, but nothing outside the agent's region. */
static int64_t task_write_nothing(struct ttst_agent_desc *d) {
  uint64_t sum = 0;
  const volatile unsigned char *p = (const unsigned char *)(uintptr_t)d->meta_self.addr;
  for (uint64_t i = 0; p && i < d->meta_self.size; ++i) sum += p[i];
  unsigned char *h = agent_alloc(4096, 64);
  if (h)
    for (int i = 0; i < 4096; ++i) h[i] = (unsigned char)(i + sum);
  d->detail[0] = sum;
  return TTST_AGENT_STATUS_OK;
}

static int64_t task_null_deref(struct ttst_agent_desc *d) {
  volatile int *volatile null_ptr = (int *)0;
  d->detail[0] = (uint64_t)*null_ptr;
  return 1;
}

static int64_t task_abort(struct ttst_agent_desc *d) {
  (void)d;
  uint64_t set = 1ull << (AGENT_SIGABRT - 1);
  agent_syscall6(AGENT_SYS_rt_sigprocmask, AGENT_SIG_UNBLOCK, (long)&set, 0, 8, 0, 0);
  long pid = agent_syscall3(AGENT_SYS_getpid, 0, 0, 0);
  long tid = agent_syscall3(AGENT_SYS_gettid, 0, 0, 0);
  agent_syscall3(AGENT_SYS_tgkill, pid, tid, AGENT_SIGABRT);
  __builtin_trap();
}

/* Recursion bounded only by a limit the caller passes as "infinite". */
static uint64_t recurse(uint64_t depth, uint64_t limit) {
  volatile unsigned char frame[256];
  frame[0] = (unsigned char)depth;
  frame[255] = (unsigned char)depth;
  if (depth == limit) return frame[0];
  return recurse(depth + 1, limit) + frame[0] + frame[255];
}

static int64_t task_stack_overflow(struct ttst_agent_desc *d) {
  d->detail[0] = recurse(0, d->arg[0] ? d->arg[0] : ~0ull);
  return 1;
}

static int64_t task_infinite_loop(struct ttst_agent_desc *d) {
  volatile uint64_t n = 0;
  volatile uint64_t *progress = d->progress; /* it also claims progress, forever */
  progress[0] = TTST_AGENT_PROGRESS_WRITE;
  progress[2] = ~0ull;
  for (;;) {
    n = n + 1;
    progress[1] = n;
    __asm__ volatile("" ::: "memory");
    if (d->arg[7] == 0x5354) break; /* never true: the host never passes it */
  }
  return 1;
}

static int64_t task_read_peer(struct ttst_agent_desc *d) {
  uint64_t len = d->arg[1];
  if (len > d->output.size) len = d->output.size;
  long got = agent_read_peer(d->peer_pid, (void *)(uintptr_t)d->output.addr, d->arg[0], len);
  if (got < 0) return got;
  d->output_used = (uint64_t)got;
  return TTST_AGENT_STATUS_OK;
}

static int64_t task_alloc(struct ttst_agent_desc *d) {
  int64_t n = 0;
  for (uint64_t i = 0; i < d->arg[0]; ++i) {
    unsigned char *p = agent_alloc(d->arg[1], 16);
    if (!p) break;
    p[0] = 1;
    ++n;
  }
  d->detail[0] = agent_alloc_used();
  return n;
}

/* Misbehaves: the host must see the new process, kill it and report a crash. */
static int64_t task_fork(struct ttst_agent_desc *d) {
  long r = agent_syscall3(AGENT_SYS_fork, 0, 0, 0);
  if (r == 0)
    for (;;) __asm__ volatile("pause");
  d->detail[0] = (uint64_t)r;
  return 0;
}

/* Blocked in a system call, consuming no CPU: the host's wall bound must end it. */
static int64_t task_sleep(struct ttst_agent_desc *d) {
  (void)d;
  const long ts[2] = {3600, 0};
  for (;;) agent_syscall3(AGENT_SYS_nanosleep, (long)ts, 0, 0);
  return 1;
}

/* What the functions queued with the block below saw (task_helper, arg[1] = 1). */
static uint32_t helper_go;
static unsigned char *helper_block;

static int resident(const unsigned char *page) {
  unsigned char r = 0;
  return agent_syscall3(27 /* mincore */, (long)page, 4096, (long)&r) == 0 && (r & 1);
}

/* Holds the helper until this thread has queued the block and the function after it. */
static void hold_helper(void *arg) {
  (void)arg;
  while (!__atomic_load_n(&helper_go, __ATOMIC_ACQUIRE))
    agent_syscall6(202 /* futex */, (long)&helper_go, 128 /* FUTEX_WAIT_PRIVATE */, 0, 0, 0, 0);
}

/* Queued behind the block: whether the block's lowest page (faulted in last) was
 * resident when it ran. */
static void note_block_bottom(void *arg) { *(uint64_t *)arg = 1 + (uint64_t)resident(helper_block); }

/* The helper thread faults in a fresh block this thread never touches; the
 * block's resident bytes (mincore) say what it did. arg[1] = 1: a function queued
 * behind the block (the helper held until both are queued) records whether the
 * block was done when it ran (detail[1]: 1 not yet, 2 done). */
static int64_t task_helper(struct ttst_agent_desc *d) {
  uint64_t size = d->arg[0];
  unsigned char *p = agent_alloc(size, 4096);
  if (!p) return 2;
  helper_block = p;
  if (d->arg[1] == 1 && agent_beside(&hold_helper, 0) != 0) return 1;
  if (agent_prefault((uint64_t)(uintptr_t)p, size) != 0) return 1;
  if (d->arg[1] == 1) {
    if (agent_beside(&note_block_bottom, &d->detail[1]) != 0) return 5;
    __atomic_store_n(&helper_go, 1, __ATOMIC_RELEASE);
    agent_syscall6(202 /* futex */, (long)&helper_go, 129 /* FUTEX_WAKE_PRIVATE */, 1, 0, 0, 0);
    agent_beside_wait();
  }
  agent_helper_wait();
  static unsigned char resident_pages[1 << 16];
  uint64_t pages = size / 4096, bytes = 0;
  if (pages > sizeof resident_pages) return 3;
  if (agent_syscall3(27 /* mincore */, (long)p, (long)size, (long)resident_pages) != 0) return 4;
  for (uint64_t i = 0; i < pages; ++i) bytes += (resident_pages[i] & 1) ? 4096 : 0;
  d->detail[0] = bytes;
  return TTST_AGENT_STATUS_OK;
}

/* A kept region's heap across two runs (inject's keep_region). */
static int64_t task_keep_store(struct ttst_agent_desc *d) {
  unsigned char *p = agent_alloc(4096, 4096);
  if (!p) return 1;
  for (int i = 0; i < 4096; ++i) p[i] = (unsigned char)d->arg[0];
  d->detail[0] = (uint64_t)(uintptr_t)p;
  return TTST_AGENT_STATUS_OK;
}

static int64_t task_keep_check(struct ttst_agent_desc *d) {
  const unsigned char *p = (const unsigned char *)(uintptr_t)d->arg[0];
  unsigned char *mine = agent_alloc(4096, 4096);
  if (!mine) return 2;
  for (int i = 0; i < 4096; ++i) mine[i] = 0xee;
  d->detail[0] = (uint64_t)(uintptr_t)mine;
  d->detail[1] = d->heap.addr;
  for (int i = 0; i < 4096; ++i)
    if (p[i] != (unsigned char)d->arg[1]) return 1;
  return TTST_AGENT_STATUS_OK;
}

static int32_t thread_word, second_word;
static unsigned char thread_stack[16384] __attribute__((aligned(64)));
static unsigned char second_stack[16384] __attribute__((aligned(64)));

static void null_deref_thread(void) {
  volatile int *volatile null_ptr = (int *)0;
  thread_word = *null_ptr;
}

static void sleeping_thread(void) {
  const long ts[2] = {3600, 0};
  for (;;) agent_syscall3(AGENT_SYS_nanosleep, (long)ts, 0, 0);
}

static int64_t task_helper_crash(struct ttst_agent_desc *d) {
  (void)d;
  if (agent_thread_start(null_deref_thread, thread_stack, sizeof thread_stack, &thread_word) <= 0) return 1;
  sleeping_thread();
  return 1;
}

static int64_t task_helper_left(struct ttst_agent_desc *d) {
  (void)d;
  return agent_thread_start(sleeping_thread, thread_stack, sizeof thread_stack, &thread_word) > 0 ? 0 : 1;
}

static int64_t task_helper_two(struct ttst_agent_desc *d) {
  (void)d;
  if (agent_thread_start(sleeping_thread, thread_stack, sizeof thread_stack, &thread_word) <= 0) return 1;
  if (agent_thread_start(sleeping_thread, second_stack, sizeof second_stack, &second_word) <= 0) return 1;
  sleeping_thread();
  return 1;
}

AGENT_TASK(TTST_AGENT_TASK_HELPER, task_helper);
AGENT_TASK(TTST_AGENT_TASK_KEEP_STORE, task_keep_store);
AGENT_TASK(TTST_AGENT_TASK_KEEP_CHECK, task_keep_check);
AGENT_TASK(TTST_AGENT_TASK_HELPER_CRASH, task_helper_crash);
AGENT_TASK(TTST_AGENT_TASK_HELPER_LEFT, task_helper_left);
AGENT_TASK(TTST_AGENT_TASK_HELPER_TWO, task_helper_two);
AGENT_TASK(TTST_AGENT_TASK_EMPTY, task_empty);
AGENT_TASK(TTST_AGENT_TASK_SLEEP, task_sleep);
AGENT_TASK(TTST_AGENT_TASK_FORK, task_fork);
AGENT_TASK(TTST_AGENT_TASK_WRITE_NOTHING, task_write_nothing);
AGENT_TASK(TTST_AGENT_TASK_NULL_DEREF, task_null_deref);
AGENT_TASK(TTST_AGENT_TASK_ABORT, task_abort);
AGENT_TASK(TTST_AGENT_TASK_STACK_OVERFLOW, task_stack_overflow);
AGENT_TASK(TTST_AGENT_TASK_INFINITE_LOOP, task_infinite_loop);
AGENT_TASK(TTST_AGENT_TASK_READ_PEER, task_read_peer);
AGENT_TASK(TTST_AGENT_TASK_ALLOC, task_alloc);

