/* state.c, version 2 — the state of version 1 with its types changed (see v1):
 * members added, dropped, reordered, widened and narrowed; arrays grown and
 * truncated; enumerators renumbered; bitfields moved. After its state is
 * transferred (future mode), it prints one summary line computed from that state,
 * which stfw/tests/roundtrip_test.cc compares with what version 1 built. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

union u { int i; float f; };
struct s { int count; int id; char str[2]; union u u; int addr; int *inner_ptr; } var;
int ids[2];

struct node { struct node *next; int key; char tag; int added; };
struct node *list_head;

struct dnode { int v; long weight; struct dnode *next, *prev; };
struct dnode ring;

struct tnode { struct tnode *left; struct tnode *right; long key; };
struct tnode *root;

struct entry { int value; char *key; struct entry *next; unsigned hits; };
struct entry *buckets[8];

struct item { int a; int extra; int b; };
struct item *items;
int *item_b_ptr;
struct item *items_end;
struct item table[6];
int *table_ptr = &table[0].b;

int op_sub(int a, int b) { return a - b + 0 * b; }
int op_add(int a, int b) { return a + b; }
int (*ops[2])(int, int) = {op_sub, op_add};
struct handler { int (*fn)(int, int); const char *name; int prio; } handlers[2] = {{0, 0, 5}, {0, 0, 6}};

const char *greeting;
char *heap_name;

static int file_counter;
int bump(void) { static int calls; return ++calls + file_counter; }

struct point { int x, y; };
struct point *origin;
void *slots[3];
struct point *new_point(int x, int y) {
  struct point *p = malloc(sizeof *p);
  p->x = x, p->y = y;
  return p;
}

enum color { BLUE, RED, GREEN, YELLOW };
enum color col = RED;
struct flags { int c : 6; unsigned b : 4; unsigned a : 3; } fl;
signed char small;
float ratio;
struct item *alias_item;
FILE *out_file;
struct inner { char c; int s; };
struct outer { long tail; struct inner arr[3]; struct inner in; } nest;
union slot { long n; struct point *p; } uslot;
uintptr_t token;
void *gone_ptr;
const char *prog_name;
const char *first_env;
static char **args, **env;
struct tnode *wrapped_node;
__thread long tls_value;
__thread struct point *tls_point;
int v2_only = 99;
struct point *v2_spare;

static void summary(void) {
  char buf[2048];
  int n = 0;
  n += snprintf(buf + n, sizeof buf - n, "count>0:%d id:%d str:%c%c u:%d addr:%x inner:%d", var.count > 0, var.id,
                var.str[0], var.str[1], var.u.i, var.addr, *var.inner_ptr);
  n += snprintf(buf + n, sizeof buf - n, " list:");
  for (struct node *p = list_head; p; p = p->next) n += snprintf(buf + n, sizeof buf - n, "%d%c%d,", p->key, p->tag, p->added);
  n += snprintf(buf + n, sizeof buf - n, " ring:");
  for (struct dnode *d = ring.next; d != &ring; d = d->next)
    n += snprintf(buf + n, sizeof buf - n, "%d%s,", d->v, d->next->prev == d ? "" : "!");
  n += snprintf(buf + n, sizeof buf - n, " tree:");
  struct tnode *stack[16];
  int sp = 0;
  struct tnode *t = root;
  while (t || sp) {  /* in order */
    while (t) stack[sp++] = t, t = t->left;
    t = stack[--sp];
    n += snprintf(buf + n, sizeof buf - n, "%ld,", t->key);
    t = t->right;
  }
  int total = 0, entries = 0;
  for (int b = 0; b < 8; ++b)
    for (struct entry *e = buckets[b]; e; e = e->next) total += e->value + (int)strlen(e->key), entries++;
  n += snprintf(buf + n, sizeof buf - n, " hash:%d/%d", entries, total);
  n += snprintf(buf + n, sizeof buf - n, " items:%d,%d,%d b:%d end:%d table:%d,%d,%d", items[4].a, items[4].b,
                items[4].extra, *item_b_ptr, (int)(items_end - items), table[3].b, table[5].b, *table_ptr);
  n += snprintf(buf + n, sizeof buf - n, " ops:%d,%d h:%s%d%d,%s%d%d", ops[0](7, 2), ops[1](7, 2), handlers[0].name,
                handlers[0].fn(7, 2), handlers[0].prio, handlers[1].name, handlers[1].fn(7, 2), handlers[1].prio);
  n += snprintf(buf + n, sizeof buf - n, " str:%s|%s statics:%d", greeting, heap_name, bump());
  n += snprintf(buf + n, sizeof buf - n, " points:%d,%d", origin->x, origin->y);
  for (int i = 0; i < 3; ++i) n += snprintf(buf + n, sizeof buf - n, ";%d,%d", ((struct point *)slots[i])->x, ((struct point *)slots[i])->y);
  n += snprintf(buf + n, sizeof buf - n, " col:%d fl:%u,%u,%d small:%d ratio:%g nest:%d%c%d%c%c%lx v2only:%d spare:%d", (int)col, fl.a, fl.b,
                fl.c, small, ratio, nest.in.s, nest.in.c, nest.arr[0].s, nest.arr[1].c, nest.arr[2].c ? nest.arr[2].c : '-',
                nest.tail, v2_only, v2_spare->x);
  n += snprintf(buf + n, sizeof buf - n, " lib:%d uslot:%ld token:%lu", out_file == stderr, uslot.n, (unsigned long)token);
  n += snprintf(buf + n, sizeof buf - n, " tls:%ld,%d,%d", tls_value, tls_point ? tls_point->x : -1,
                tls_point ? tls_point->y : -1);
  n += snprintf(buf + n, sizeof buf - n, " argv0:%d env0:%d", prog_name == args[0],
                env[0] && first_env == strchr(env[0], '=') + 1);
  printf("%s\n", buf);
  fflush(stdout);
}

int main(int argc, char **argv, char **envp) {
  int transferred = ttst_is_updating();
  (void)argc;
  args = argv, env = envp;
  /* Start-up state the transfer supersedes: heap_name's block is freed by the
   * transfer; origin's is kept because v2_spare still points to it. */
  heap_name = strdup("v2 default name");
  origin = v2_spare = new_point(9, 9);
  if (!transferred) {
    greeting = "hello, world";
    handlers[0].name = "add", handlers[0].fn = op_add;
    handlers[1].name = "sub", handlers[1].fn = op_sub;
    printf("v2 started fresh\n");
    fflush(stdout);
  }
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) summary(), transferred = 0;
    usleep(20000);
  }
}
