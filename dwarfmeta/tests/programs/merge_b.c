/* merge_b.c — see merge_a.c. */
struct ring_c;
struct ring_b {
  struct ring_c *c;
};
struct ring_a {
  struct ring_b *b;
};
struct ring_c {
  struct ring_a *a;
  long x;
};
static struct ring_a ring;
struct ring_a *ring_in_b(void) { return &ring; }

struct list {
  struct list *next;
  int v;
};
struct list list_b;

struct peer_y;
struct peer_x {
  struct peer_y *y;
  int n;
};
struct peer_y {
  struct peer_x *x;
};
struct peer_y py_b;
typedef struct peer_y peer_y_t;
peer_y_t pyt_b;
