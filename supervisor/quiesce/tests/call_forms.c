/* call_forms.c — calls in the forms compilers emit: direct, through registers,
 * through memory with base, index, scale and 8/32-bit displacements, rip-relative,
 * and from the PLT's GOT. The decoder test checks every instruction of it. */
#include <stdio.h>
#include <stdlib.h>

typedef int (*fn)(int);
static int inc(int x) { return x + 1; }
static int dbl(int x) { return x * 2; }
static int neg(int x) { return -x; }
static int sq(int x) { return x * x; }

struct small { fn a, b; };
struct big { char pad[300]; fn f[4]; };
fn table[4] = {inc, dbl, neg, sq};
fn volatile gptr = inc;

__attribute__((noinline)) int via_small(struct small* s, int x) { return s->b(x) + s->a(x); }
__attribute__((noinline)) int via_big(struct big* b, int i, int x) { return b->f[i & 3](x); }
__attribute__((noinline)) int via_table(int i, int x) { return table[i & 3](x); }
__attribute__((noinline)) int via_stack(int i, int x) {
  fn volatile local[8] = {inc, dbl, neg, sq, inc, dbl, neg, sq};
  return local[i & 7](x) + local[(i + 1) & 7](x);
}
__attribute__((noinline)) int via_far_stack(int i, int x) {
  fn volatile local[64];
  for (int k = 0; k < 64; k++) local[k] = table[k & 3];
  return local[40 + (i & 3)](x);
}
__attribute__((noinline)) int via_global(int x) { return gptr(x); }
__attribute__((noinline)) int via_array_arg(fn* fs, long i, int x) { return fs[i](x) + fs[i + 1](x) + fs[i + 40](x); }

int main(int argc, char** argv) {
  (void)argv;
  struct small s = {inc, dbl};
  struct big* b = calloc(1, sizeof *b);
  for (int k = 0; k < 4; k++) b->f[k] = table[k];
  fn many[48];
  for (int k = 0; k < 48; k++) many[k] = table[k & 3];
  int r = via_small(&s, argc) + via_big(b, argc, 3) + via_table(argc, 4) + via_stack(argc, 5) +
          via_far_stack(argc, 6) + via_global(7) + via_array_arg(many, argc, 8);
  printf("%d\n", r);
  free(b);
  return 0;
}
