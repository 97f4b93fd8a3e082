/* locals.c — a function whose parameters and locals live in its stack frame; it
 * prints each one's address minus its frame's CFA (rbp + 16 with frame pointers),
 * which locals_test compares with what dwarfmeta extracted. */
#include <stdio.h>

__attribute__((noinline)) void frame(long param, int other) {
  long local = param + other;
  char buf[24];
  char *cfa = (char *)__builtin_frame_address(0) + 16;
  buf[0] = (char)local;
  printf("param %ld\nother %ld\nlocal %ld\nbuf %ld\n", (long)((char *)&param - cfa), (long)((char *)&other - cfa),
         (long)((char *)&local - cfa), (long)(buf - cfa));
}

int main(void) {
  frame(1, 2);
  return 0;
}
