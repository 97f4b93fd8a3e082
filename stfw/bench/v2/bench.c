/* bench.c, version 2 — struct e reordered, one member added (see v1). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ttst.h"

struct a { struct a *next, *other; long payload[14]; };
struct b { struct b *next, *other; long payload[14]; };
struct c { struct c *next, *other; long payload[14]; };
struct d { struct d *next, *other; long payload[14]; };
struct e { struct e *other; int added; struct e *next; long payload[14]; };

#define TYPES(X) X(a) X(b) X(c) X(d) X(e)
#define HEAD(t) struct t *head_##t;
TYPES(HEAD)

static unsigned long long rng = 88172645463325252ull;
static unsigned long long next_rand(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }


int main(void) {
  for (;;) {
    TTST_UPDATE_POINT();
    usleep(20000);
  }
}
