/* merge_a.c — with merge_b.c and merge_c.c, one program whose units repeat C types
 * that the type merge must join (struct list, struct peer_x/peer_y) or keep apart
 * (struct ring_a: the same in both units but for a member two hops away, round a
 * cycle). Read by dwarfmeta/tests/type_table_test.cc. */
struct ring_c;
struct ring_b {
  struct ring_c *c;
};
struct ring_a {
  struct ring_b *b;
};
struct ring_c {
  struct ring_a *a;
  int x; /* merge_b.c: long x */
};
static struct ring_a ring;
struct ring_a *ring_in_a(void) { return &ring; }

struct list {
  struct list *next;
  int v;
};
struct list list_a;

/* Only declared here: the definition is in merge_b.c. */
struct peer_y;
struct peer_x {
  struct peer_y *y;
  int n;
};
struct peer_x px;
/* A typedef of the declaration: the same type as merge_b.c's typedef of the
 * definition, with the definition's size. */
typedef struct peer_y peer_y_t;
peer_y_t *pyp_a;
