/* clones.c — one source built twice at -O2 (dwarfmeta/tests/BUILD): with GCC's
 * hot/cold partitioning (the calloc of the out-of-memory path moves to
 * add.cold) and without it (-fno-reorder-blocks-and-partition: one function).
 * The allocation sites must keep their IDs (add#0, add#1, add#2) either way. */
#include <stdio.h>
#include <stdlib.h>

struct node {
  int key;
  struct node *next;
};
static struct node *head;
static char *last_error;

__attribute__((noinline)) struct node *add(int key) {
  struct node *n = malloc(sizeof *n);
  if (!n) { /* ends in abort(): never executed, so GCC puts it in add.cold */
    last_error = calloc(1, 64);
    if (last_error) snprintf(last_error, 64, "no memory for key %d", key);
    abort();
  }
  n->key = key, n->next = head, head = n;
  struct node *m = malloc(sizeof *m);
  if (m) m->key = -key, m->next = head, head = m;
  return n;
}

int main(int argc, char **argv) {
  (void)argv;
  return add(argc)->key;
}
