/* helper.c — see helper.h. Untrusted agent code. */
#include "inject/agent/helper.h"

#include "inject/agent/agent_abi.h"
#include "inject/agent/alloc.h"
#include "inject/agent/sys.h"

#define SYS_MADVISE 28
#define SYS_FUTEX 202
#define MADV_POPULATE_WRITE 23
#define FUTEX_WAIT 0
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129
#define AGENT_EINTR 4
#define AGENT_EINVAL 22
/* A thread of this process sharing everything; the kernel stores its id in
 * helper_tid now and clears it (with a futex wake) when the thread exits. */
#define HELPER_CLONE_FLAGS (0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x100000 | 0x200000)
#define HELPER_STACK (1u << 20) /* the engine's walk, when it runs here (agent_beside) */
#define STEP (2ull << 20) /* one huge page per call: a stop request is seen soon */
#define JOBS 64u

struct job {
  uint64_t lo, hi;         /* a range to fault in, */
  void (*fn)(void *arg);   /* or a function to run */
  void *arg;
};

static uint32_t allowed;
static int started;
static struct job jobs[JOBS];
static uint32_t queued; /* ranges pushed, plus one for the stop (the futex word) */
static uint32_t taken;  /* jobs the helper has taken (the futex word of agent_helper_wait) */
static uint32_t functions_queued; /* agent_beside's jobs queued, */
static uint32_t functions_done;   /* and returned (the futex word of agent_beside_wait) */
static uint32_t stopping;
static int32_t helper_tid; /* the kernel's: the thread's id while it lives */

long agent_clone_thread(long flags, void *stack_top, int32_t *tid_word, void (*fn)(void), void *unused);
__asm__(
    ".text\n"
    ".globl agent_clone_thread\n"
    ".hidden agent_clone_thread\n"
    ".type agent_clone_thread,@function\n"
    /* rdi flags, rsi stack top, rdx tid word (parent_tid and child_tid), rcx fn */
    "agent_clone_thread:\n"
    "  sub $16, %rsi\n"
    "  mov %rcx, (%rsi)\n"
    "  mov %rdx, %r10\n"
    "  xor %r8d, %r8d\n"
    "  mov $56, %eax\n"
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jnz 1f\n"
    /* the new thread, on its own stack: fn(), then exit (this thread only) */
    "  xor %ebp, %ebp\n"
    "  pop %rax\n"
    "  and $-16, %rsp\n"
    "  call *%rax\n"
    "  mov $60, %eax\n"
    "  xor %edi, %edi\n"
    "  syscall\n"
    "  ud2\n"
    "1:\n"
    "  ret\n"
    ".size agent_clone_thread, .-agent_clone_thread\n");

static void futex_wait(uint32_t *word, uint32_t value) {
  agent_syscall6(SYS_FUTEX, (long)word, FUTEX_WAIT_PRIVATE, value, 0, 0, 0);
}
static void futex_wake(uint32_t *word) { agent_syscall6(SYS_FUTEX, (long)word, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0); }

static void run_function(struct job *j) {
  void (*fn)(void *arg) = j->fn;
  j->fn = 0; /* run: when its turn comes, nothing is left to do */
  fn(j->arg);
  __atomic_store_n(&functions_done, functions_done + 1, __ATOMIC_RELEASE);
  futex_wake(&functions_done);
}

/* The functions queued behind the range being faulted in run first: the agent
 * waits for them (the engine's second thread), never for a range. Only this thread
 * writes a queued job; the agent writes a slot only once it is taken. */
static void run_functions_queued_behind(void) {
  uint32_t q = __atomic_load_n(&queued, __ATOMIC_ACQUIRE);
  for (uint32_t i = taken + 1; i != q; ++i)
    if (jobs[i % JOBS].fn) run_function(&jobs[i % JOBS]);
}

/* Faults [lo, hi) in from the top down, a huge page at a time. False when the
 * kernel does not know the advice (before 5.14): nothing more is tried. Any other
 * refusal (a part not mapped) ends this range only. */
static int populate(uint64_t lo, uint64_t hi) {
  while (hi > lo && !__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
    run_functions_queued_behind();
    uint64_t from = hi - lo > STEP ? (hi - STEP) & ~(STEP - 1) : lo;
    if (from < lo) from = lo;
    long r = agent_syscall3(SYS_MADVISE, (long)from, (long)(hi - from), MADV_POPULATE_WRITE);
    if (r == -AGENT_EINVAL) return 0;
    if (r < 0 && r != -AGENT_EINTR) return 1;
    hi = from;
  }
  return 1;
}

static void helper_main(void) {
  int works = 1;
  for (;;) {
    uint32_t q = __atomic_load_n(&queued, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) return;
    if (taken == q) {
      futex_wait(&queued, q);
      continue;
    }
    struct job r = jobs[taken % JOBS];
    if (r.fn)
      run_function(&jobs[taken % JOBS]);
    else if (works && r.hi > r.lo)
      works = populate(r.lo, r.hi);
    __atomic_store_n(&taken, taken + 1, __ATOMIC_RELEASE);
    futex_wake(&taken); /* agent_helper_wait */
  }
}

void agent_helper_init(const struct ttst_agent_desc *d) { allowed = d->helpers; }

long agent_thread_start(void (*fn)(void), void *stack, uint64_t size, int32_t *tid_word) {
  return agent_clone_thread(HELPER_CLONE_FLAGS, (uint8_t *)stack + size, tid_word, fn, 0);
}

static int start(void) {
  uint8_t *stack = agent_alloc(HELPER_STACK, 64);
  return stack && agent_thread_start(helper_main, stack, HELPER_STACK, &helper_tid) > 0;
}

static int queue(struct job j) {
  if (!allowed || started < 0) return -1;
  if (queued - __atomic_load_n(&taken, __ATOMIC_ACQUIRE) >= JOBS) return -1;
  if (!started) started = start() ? 1 : -1;
  if (started < 0) return -1;
  jobs[queued % JOBS] = j;
  __atomic_store_n(&queued, queued + 1, __ATOMIC_RELEASE);
  futex_wake(&queued);
  return 0;
}

int agent_prefault(uint64_t addr, uint64_t size) {
  uint64_t lo = (addr + 4095) & ~4095ull, hi = (addr + size) & ~4095ull;
  if (hi <= lo) return -1;
  return queue((struct job){lo, hi, 0, 0});
}

int agent_beside(void (*fn)(void *arg), void *arg) {
  if (queue((struct job){0, 0, fn, arg}) != 0) return -1;
  ++functions_queued;
  return 0;
}

void agent_beside_wait(void) {
  for (uint32_t d; (d = __atomic_load_n(&functions_done, __ATOMIC_ACQUIRE)) != functions_queued;)
    futex_wait(&functions_done, d);
}

void agent_helper_wait(void) {
  for (uint32_t t; started > 0 && (t = __atomic_load_n(&taken, __ATOMIC_ACQUIRE)) != queued;)
    futex_wait(&taken, t);
}

void agent_helper_join(void) {
  if (started <= 0) return;
  __atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
  __atomic_store_n(&queued, queued + 1, __ATOMIC_RELEASE);
  futex_wake(&queued);
  /* The kernel's wake at the thread's exit is a shared one: so must the wait be. */
  for (int32_t t; (t = __atomic_load_n(&helper_tid, __ATOMIC_ACQUIRE)) != 0;)
    agent_syscall6(SYS_FUTEX, (long)&helper_tid, FUTEX_WAIT, t, 0, 0, 0);
  started = 0;
}
