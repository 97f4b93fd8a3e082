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
#define NEST(n, m)    \
  struct L##n {       \
    struct L##m in;   \
  };                  \
  struct K##n {       \
    struct K##m in;   \
  };
NEST(1, 0)
NEST(2, 1)
NEST(3, 2)
NEST(4, 3)
NEST(5, 4)
NEST(6, 5)
NEST(7, 6)
NEST(8, 7)
NEST(9, 8)
NEST(10, 9)
NEST(11, 10)
NEST(12, 11)
NEST(13, 12)
NEST(14, 13)
NEST(15, 14)
NEST(16, 15)
NEST(17, 16)
NEST(18, 17)
NEST(19, 18)
NEST(20, 19)
NEST(21, 20)
NEST(22, 21)
NEST(23, 22)
NEST(24, 23)
NEST(25, 24)
NEST(26, 25)
NEST(27, 26)
NEST(28, 27)
NEST(29, 28)
NEST(30, 29)
NEST(31, 30)
NEST(32, 31)
NEST(33, 32)
NEST(34, 33)
NEST(35, 34)
NEST(36, 35)
NEST(37, 36)
NEST(38, 37)
NEST(39, 38)
NEST(40, 39)
NEST(41, 40)
NEST(42, 41)
NEST(43, 42)
NEST(44, 43)
NEST(45, 44)
NEST(46, 45)
NEST(47, 46)
NEST(48, 47)
NEST(49, 48)
NEST(50, 49)
NEST(51, 50)
NEST(52, 51)
NEST(53, 52)
NEST(54, 53)
NEST(55, 54)
NEST(56, 55)
NEST(57, 56)
NEST(58, 57)
NEST(59, 58)
NEST(60, 59)
NEST(61, 60)
NEST(62, 61)
NEST(63, 62)
NEST(64, 63)
NEST(65, 64)
NEST(66, 65)
NEST(67, 66)
NEST(68, 67)
NEST(69, 68)
NEST(70, 69)

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
