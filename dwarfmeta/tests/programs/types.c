/* Every type kind dwarfmeta models, each reachable from a global, plus static,
 * function-static, thread-local and const globals. Used by dwarfmeta/tests. */
#include <stdlib.h>
#include <string.h>

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
  _Complex double cd;
  counter_t counter;
  enum color color;
  struct flags flags;
  int grid[2][3][4];
  const char *name;
  volatile int vi;
  char *restrict rp;
  _Atomic int ai;
  handler_fn handler;
  void (*cb)(void *, ...);
  struct node **pp;
  int *const cp;
};

struct everything every;
struct node *list_head;
struct packet *packet;
struct zl zero_len;
static int file_counter = 3;
__thread int tls_value;
const int table[4] = {1, 2, 3, 4};
handler_fn handlers[2];
char message[] = "hello";

static int on_event(int x, const char *s) { return x + (int)strlen(s); }

int first(void) {
  static int calls;
  return ++calls + file_counter;
}

int second(void) {
  static int calls;
  static struct node cache;
  cache.key = calls;
  return ++calls;
}

int main(void) {
  handlers[0] = on_event;
  list_head = malloc(sizeof *list_head);
  packet = calloc(1, sizeof *packet + 8);
  every.name = strdup("every");
  tls_value = first() + second();
  return handlers[0](tls_value, every.name) + table[1] + zero_len.n + message[0] > 1000;
}
