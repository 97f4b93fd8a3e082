/* deep.c — state nested 40 levels deep, built twice (-DDEEP_V2 is version 2): at
 * the bottom an int becomes a float and a union holding a pointer changes, which
 * the plan must report however deep (dwarfmeta/tests/plan_test.cc). */
#include "nest_levels.h"

struct L0 {
#ifdef DEEP_V2
  float v;
  union {
    long i;
    void *p;
  } u;
#else
  int v;
  union {
    int i;
    void *p;
  } u;
#endif
};
/* The same nesting with nothing changed. */
struct K0 {
  int v;
};
NEST_LEVELS_40(NEST_L_AND_K)
struct L40 deep;
struct K40 kept;
/* A cyclic type holding the deep one in place. */
struct ring {
  struct ring *next;
  struct L40 body;
} ring;

int main(void) { return kept.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.v; }
