/* alloc.h — the agent's bump allocator over the heap range the host reserved in
 * the agent's private region. No free: the whole region is unmapped afterwards. */
#ifndef TTST_AGENT_ALLOC_H
#define TTST_AGENT_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void agent_alloc_init(uint64_t base, uint64_t size);
/* Returns NULL when the arena is exhausted. align must be a power of two. */
void *agent_alloc(size_t size, size_t align);
uint64_t agent_alloc_used(void);

#endif
