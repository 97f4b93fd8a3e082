/* alloc.c — bump allocator (see alloc.h). Untrusted agent code. */
#include "inject/agent/alloc.h"

static uint64_t arena_base, arena_end, arena_next;

void agent_alloc_init(uint64_t base, uint64_t size) {
  arena_base = base;
  arena_next = base;
  arena_end = base + size;
}

void *agent_alloc(size_t size, size_t align) {
  if (align == 0) align = 16;
  uint64_t p = (arena_next + align - 1) & ~(uint64_t)(align - 1);
  if (p < arena_next || size > arena_end - p || p > arena_end) return NULL;
  arena_next = p + size;
  return (void *)(uintptr_t)p;
}

uint64_t agent_alloc_used(void) { return arena_next - arena_base; }
