/* types.h — the types of types.c, shared with dwarfmeta/tests/load_test.cc so the
 * test compares DWARF's layout with the compiler's own offsetof/sizeof. */
#ifndef DWARFMETA_TESTS_TYPES_H
#define DWARFMETA_TESTS_TYPES_H
#ifdef __cplusplus
#define _Bool bool
#endif
typedef unsigned long counter_t;

enum color { RED = 0, GREEN = 5, BLUE = -1 };

struct flags {
  unsigned a : 3;
  unsigned b : 5;
  int c : 7;
  unsigned char tail;
};

struct node {
  int key;
  struct node *next;
  union {
    long l;
    double d;
  };
};

struct packet {
  unsigned len;
  char data[];
};

struct zl {
  int n;
  int none[0];
};

typedef int (*handler_fn)(int, const char *);

struct everything {
  char c;
  signed char sc;
  unsigned char uc;
  short s;
  unsigned short us;
  int i;
  unsigned u;
  long l;
  unsigned long ul;
  long long ll;
  float f;
  double d;
  long double ld;
  _Bool b;
  #ifndef __cplusplus
  _Complex double cd;
#else
  double cd[2];
#endif
  counter_t counter;
  enum color color;
  struct flags flags;
  int grid[2][3][4];
  const char *name;
  volatile int vi;
  char *__restrict rp;
  #ifndef __cplusplus
  _Atomic int ai;
#else
  int ai;
#endif
  handler_fn handler;
  void (*cb)(void *, ...);
  struct node **pp;
  int *const cp;
};

#endif
