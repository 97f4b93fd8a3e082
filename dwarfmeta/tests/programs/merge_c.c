/* merge_c.c — see merge_a.c. */
struct list {
  struct list *next;
  int v;
};
struct list list_c;

/* Only declared here: the definition is in merge_a.c and merge_b.c. */
struct peer_x;
struct peer_y {
  struct peer_x *x;
};
struct peer_y py_c;

int main(void) { return list_c.v; }
