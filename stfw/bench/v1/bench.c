/* bench.c, version 1 — the state transfer benchmark's program: N heap objects of
 * 128 bytes (two pointers each) in five struct types; version 2 changes one of
 * them (20% of the objects). stfw/bench/xfer_bench.cc drives it. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ttst.h"

struct a { struct a *next, *other; long payload[14]; };
struct b { struct b *next, *other; long payload[14]; };
struct c { struct c *next, *other; long payload[14]; };
struct d { struct d *next, *other; long payload[14]; };
struct e { struct e *next, *other; long payload[14]; };

#define TYPES(X) X(a) X(b) X(c) X(d) X(e)
#define HEAD(t) struct t *head_##t;
TYPES(HEAD)

static unsigned long long rng = 88172645463325252ull;
static unsigned long long next_rand(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

#define BUILD(t)                                                              \
  static void build_##t(long n) {                                            \
    struct t **all = malloc(n * sizeof *all);                                 \
    for (long i = 0; i < n; ++i) {                                            \
      struct t *x = malloc(sizeof *x);                                        \
      for (int k = 0; k < 14; ++k) x->payload[k] = i * 14 + k;               \
      x->next = head_##t, x->other = 0;                                       \
      head_##t = all[i] = x;                                                  \
    }                                                                         \
    for (long i = 0; i < n; ++i) all[i]->other = all[next_rand() % n];        \
    free(all);                                                                \
  }
TYPES(BUILD)

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
#define CALL(t) build_##t(n / 5);
  TYPES(CALL)
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    TTST_UPDATE_POINT();
    usleep(20000);
  }
}
