/* deep.c — state nested DEPTH levels deep (40: within the transfer engine's
 * limit of 64, 70: beyond it), built twice (-DDEEP_V2 is version 2), for
 * stfw/tests/deep_nesting_test.cc:
 *   deep     a struct DEPTH levels deep whose bottom changes (a member moves and
 *            widens; a pointer at the bottom), so it is walked to the bottom
 *            (left out with -DNO_CHANGED_STRUCT: the rest alone at 70 levels);
 *   kept     the same nesting unchanged, no pointer: copied as it is;
 *   into     a pointer into a bottom member (deep's: its offset changes);
 *   chain    a pointer to a heap object of type int *...* (DEPTH pointers, unnamed),
 *            void * in v2: the object's v2 type is found by its counterpart;
 *   cell     a global of that pointer type, so both versions have it. */
#include "nest_levels.h"
#include "ttst.h"

#ifndef DEPTH
#error "build with -DDEPTH=40 or -DDEPTH=70"
#endif

int target;

struct L0 {
#ifdef DEEP_V2
  int pad;
  long extra;
  long v;
#else
  int pad;
  int v;
#endif
  int *p;
};
struct K0 {
  int pad;
  int v;
};
NEST_LEVELS_70(NEST_L_AND_K)

#define S10 **********
#if DEPTH == 40
#define STARS S10 S10 S10 S10
#elif DEPTH == 70
#define STARS S10 S10 S10 S10 S10 S10 S10
#else
#error "DEPTH is 40 or 70"
#endif

#define TOP_(kind, n) struct kind##n
#define TOP(kind, n) TOP_(kind, n)
#ifndef NO_CHANGED_STRUCT
TOP(L, DEPTH) deep;
#endif
TOP(K, DEPTH) kept;
#ifdef DEEP_V2
long *into;
void *chain;
#else
int *into;
int STARS *chain;
#endif
int STARS cell;

int main(void) {
  for (;;) TTST_UPDATE_POINT();
}
