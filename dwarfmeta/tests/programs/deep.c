/* deep.c — state nested 40 levels deep, built twice (-DDEEP_V2 is version 2): at
 * the bottom an int becomes a float and a union holding a pointer changes, which
 * the plan must report however deep (dwarfmeta/tests/plan_test.cc). */
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
#define NEST(n, m) \
  struct L##n {  \
    struct L##m in; \
  };             \
  struct K##n {  \
    struct K##m in; \
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
struct L40 deep;
struct K40 kept;
/* A cyclic type holding the deep one in place. */
struct ring {
  struct ring *next;
  struct L40 body;
} ring;

int main(void) { return kept.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.in.v; }
