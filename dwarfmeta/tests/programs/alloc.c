/* Calls to every standard allocator and to an annotated pool allocator, from a
 * static function and from main. Used by dwarfmeta/tests/alloc_sites_test. */
#include <stdlib.h>
#include <string.h>

asm(".pushsection .ttst.annot,\"\",@progbits\n"
    ".byte 0x54,1,5\n.asciz \"alloc.c\"\n.asciz \"pool_alloc\"\n.asciz \"size=1\"\n"
    ".popsection");

__attribute__((noinline)) void *pool_alloc(size_t n) {
  static char pool[4096];
  static size_t used;
  void *p = pool + used;
  used += n;
  return p;
}

void *sink[16];

static __attribute__((noinline)) void make(const char *s) {
  sink[0] = malloc(8);
  sink[1] = calloc(2, 8);
  sink[2] = realloc(sink[0], 32);
  sink[3] = strdup(s);
  sink[4] = strndup(s, 2);
  if (posix_memalign(&sink[5], 64, 64) != 0) sink[5] = 0;
  sink[6] = aligned_alloc(64, 128);
  sink[7] = pool_alloc(16);
}

int main(int argc, char **argv) {
  make(argv[0]);
  sink[8] = malloc((size_t)argc);
  return sink[8] == 0;
}
