/* transfer_probe.c — checks, from inside a ttst program, the runtime's hooks for
 * the state transfer's allocations in a future version (stfw/runtime/ttst_runtime.c:
 * __ttst_transfer_reserve, __ttst_transfer_alloc): one check per command, exit 0
 * when it holds, else a line on stderr and exit 1.
 *   transfer_probe large   a reserve of 64 MiB, then 64 MiB of blocks: each zeroed,
 *                          listed once with its site and origin, freeable; the
 *                          heap they fill is advised for huge pages; errno kept
 *   transfer_probe small   a reserve under the runtime's minimum changes nothing:
 *                          no mapping advised, glibc still mmaps a 256 KiB block
 *   transfer_probe ahead   the heap grown ahead for 96 MiB (32 more than used):
 *                          the range it names is on the heap, advised; the blocks
 *                          land in it, are zeroed, listed, freeable; the end of the
 *                          allocations frees what was held and not used; errno kept
 * The heap is walked in place with ttst_heap_reader.h (identity translation). */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ttst.h>
#include <ttst_heap_reader.h>

#define FAIL(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), exit(1))

void __ttst_transfer_reserve(size_t bytes);
void __ttst_transfer_reserve_ahead(size_t bytes, uintptr_t range[2]);
void *__ttst_transfer_alloc(size_t n, uintptr_t site, uint64_t origin_id);

static const void *identity(void *c, uint64_t a, uint64_t l) {
  (void)c;
  (void)l;
  return (const void *)(uintptr_t)a;
}

struct count {
  uint64_t lo, hi, objects;
  int bad;
};
enum { SIZE = 200, BLOCKS = (64 << 20) / (SIZE + 80) };

static int count_visit(void *c, uint64_t a, const struct ttst_heap_desc *d) {
  struct count *k = c;
  (void)a;
  if (d->origin_id >= k->lo && d->origin_id < k->hi) {
    k->objects++;
    if (d->site != 0x1234 || d->size != SIZE || !(d->flags & TTST_HEAP_F_ZEROED)) k->bad++;
  }
  return 0;
}

/* Bytes of [lo, hi) in mappings advised MADV_HUGEPAGE ("hg" in smaps' VmFlags). */
static uint64_t advised(uintptr_t lo, uintptr_t hi) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) FAIL("cannot open /proc/self/smaps");
  char line[512];
  uint64_t bytes = 0, overlap = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    if (!strncmp(line, "VmFlags:", 8)) {
      if (strstr(line, " hg")) bytes += overlap;
    } else if (sscanf(line, "%lx-%lx ", &a, &b) == 2) { /* a mapping's first line */
      uintptr_t x = a > lo ? a : lo, y = b < hi ? b : hi;
      overlap = y > x ? y - x : 0;
    }
  }
  fclose(f);
  return bytes;
}

static void *blocks[BLOCKS];

/* BLOCKS blocks of SIZE allocated as a transfer does, each zeroed then filled;
 * returns how many lie outside [lo, hi). */
static int allocate_blocks(uintptr_t lo, uintptr_t hi) {
  int outside = 0;
  for (int i = 0; i < BLOCKS; i++) {
    unsigned char *p = __ttst_transfer_alloc(SIZE, 0x1234, 1000000 + (uint64_t)i);
    if (!p) FAIL("block %d not allocated", i);
    for (int k = 0; k < SIZE; k++)
      if (p[k]) FAIL("block %d: byte %d not zero", i, k);
    memset(p, 0xa5, SIZE);
    outside += (uintptr_t)p < lo || (uintptr_t)p + SIZE > hi;
    blocks[i] = p;
  }
  return outside;
}

/* The blocks listed once each with their site, size and flag; freed by the program
 * like its own, listed no more; glibc's bins intact. */
static void check_listed_then_free(void) {
  struct count k = {1000000, 1000000 + BLOCKS, 0, 0};
  if (ttst_heap_walk((uint64_t)(uintptr_t)&__ttst_runtime, identity, NULL, count_visit, &k) < 0)
    FAIL("heap walk failed");
  if (k.objects != BLOCKS || k.bad) FAIL("%lu blocks listed of %d, %d with a wrong site, size or flag",
                                         (unsigned long)k.objects, BLOCKS, k.bad);
  for (int i = 0; i < BLOCKS; i++) free(blocks[i]);
  k.objects = 0;
  if (ttst_heap_walk((uint64_t)(uintptr_t)&__ttst_runtime, identity, NULL, count_visit, &k) < 0 || k.objects)
    FAIL("freed blocks still listed");
  malloc_trim(0); /* walks glibc's bins: a corrupted chunk header aborts here */
}

static void large(void) {
  uintptr_t start = (uintptr_t)sbrk(0);
  errno = 4242;
  __ttst_transfer_reserve((size_t)BLOCKS * (SIZE + 80));
  allocate_blocks(0, UINTPTR_MAX);
  if (errno != 4242) FAIL("errno changed to %d", errno);
  uintptr_t end = (uintptr_t)sbrk(0);
  if (end - start < (48u << 20)) FAIL("the blocks are not on the brk heap (grew by %lu)", (unsigned long)(end - start));
  uint64_t hg = advised(start, end);
  if (hg < (end - start) * 9 / 10)
    FAIL("%lu of the %lu bytes the heap grew are advised for huge pages", (unsigned long)hg,
         (unsigned long)(end - start));
  check_listed_then_free();
}

static void ahead(void) {
  struct mallinfo2 m0 = mallinfo2();
  uintptr_t start = (uintptr_t)sbrk(0), range[2] = {1, 1};
  const size_t want = (size_t)BLOCKS * (SIZE + 80);
  errno = 4242;
  __ttst_transfer_reserve_ahead(want + (32 << 20), range);
  if (range[1] <= range[0] || range[1] - range[0] < want)
    FAIL("the range grown ahead is %#lx-%#lx, under the %zu bytes announced", (unsigned long)range[0],
         (unsigned long)range[1], want);
  if (range[0] < start || range[1] > (uintptr_t)sbrk(0)) FAIL("the range grown ahead is not the heap's new part");
  if (advised(range[0], range[1]) < (range[1] - range[0]) * 9 / 10) FAIL("the range grown ahead is not advised");
  __ttst_transfer_reserve(want);
  const int outside = allocate_blocks(range[0], range[1]);
  if (outside > BLOCKS / 100) FAIL("%d of %d blocks outside the range grown ahead", outside, BLOCKS);
  __ttst_transfer_reserve_ahead(0, range);
  if (range[0] || range[1]) FAIL("the end of the allocations named a range");
  if (errno != 4242) FAIL("errno changed to %d", errno);
  check_listed_then_free();
  struct mallinfo2 m1 = mallinfo2();
  if (m1.uordblks > m0.uordblks + (1 << 20))
    FAIL("%zu bytes still allocated after every block was freed: a held step kept", m1.uordblks - m0.uordblks);
}

static void small(void) {
  uintptr_t start = (uintptr_t)sbrk(0);
  __ttst_transfer_reserve(4 << 20);
  for (int i = 0; i < (4 << 20) / (SIZE + 80); i++)
    if (!__ttst_transfer_alloc(SIZE, 0x1234, 1 + (uint64_t)i)) FAIL("block %d not allocated", i);
  uintptr_t end = (uintptr_t)sbrk(0);
  if (advised(0, UINTPTR_MAX)) FAIL("a mapping is advised for huge pages after a small reserve");
  void *big = malloc(256 << 10);
  if ((uintptr_t)big >= start && (uintptr_t)big < end + (1 << 20))
    FAIL("a 256 KiB block came from the brk heap: glibc's mmap threshold moved");
  free(big);
}

int main(int argc, char **argv) {
  if (argc != 2) FAIL("usage: transfer_probe large|small|ahead");
  if (!strcmp(argv[1], "large")) large();
  else if (!strcmp(argv[1], "small")) small();
  else if (!strcmp(argv[1], "ahead")) ahead();
  else FAIL("transfer_probe: unknown check %s", argv[1]);
  return 0;
}
