/* parts.c — one source built twice at -O2 (dwarfmeta/tests/BUILD): with GCC's
 * partial inlining (make's likely early return is inlined into its callers, the
 * rest, with both allocations, moves to make.part.0) and without it
 * (-fno-partial-inlining: make stays whole). The allocation sites must keep their
 * IDs (make#0, make#1) either way. */
#include <stdlib.h>
#include <string.h>

struct rec {
  int n;
  char *name;
  struct rec *next;
};
static struct rec *head, *spare;
static int table[1000];

static struct rec *make(int n, const char *name) {
  if (__builtin_expect(spare != NULL, 1)) { /* the hot path: a recycled record */
    struct rec *r = spare;
    spare = NULL;
    r->n = n;
    return r;
  }
  struct rec *r = malloc(sizeof *r); /* make#0 */
  r->n = n;
  r->name = calloc(1, strlen(name) + 1); /* make#1 */
  strcpy(r->name, name);
  for (int i = 0; i < 1000; i++) table[i] += n * i; /* a body too large to inline whole */
  for (int i = 0; i < 1000; i++) table[i] ^= table[(i * 7) % 1000];
  for (int i = 0; i < 1000; i++) table[i] -= table[(i * 3) % 1000] / (i + 1);
  r->next = head, head = r;
  return r;
}

int main(int argc, char **argv) {
  for (int i = 0; i < argc; i++) make(i, argv[i])->n++;
  make(argc - 5, argv[0])->n++;
  make(argc, "x")->n++;
  return head->n + table[argc];
}
