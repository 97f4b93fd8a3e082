/* state.c, version 1 — a program whose state exercises every kind of transfer the
 * state transfer framework handles (stfw/tests/roundtrip_test.cc): Listing 2, a
 * linked list, a doubly linked circular list, a binary tree, a chained hash table,
 * interior pointers into arrays of growing structs, function-pointer tables, string
 * literals and heap strings, static and function-static variables, a void *
 * container typed by its allocation site, enums, bitfields, widened integers, a
 * pointer into a shared library's static data (stderr), a union and a uintptr_t
 * that hold plain numbers, pointers to an argument and an environment string,
 * thread-local globals.
 * Builds its state, prints "ready", then loops through an update point. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ttst.h"

/* Listing 2 */
union u { int i; float f; };
struct s { int count; char str[3]; short id; union u u; void *ptr; int addr; short *inner_ptr; } var;
short ids[4];

struct node { int key; long pad; struct node *next; char tag; };
struct node *list_head;

struct dnode { struct dnode *prev, *next; int v; };
struct dnode ring;

struct tnode { int key; struct tnode *left, *right; };
struct tnode *root;

struct entry { char *key; int value; struct entry *next; };
struct entry *buckets[8];

struct item { int a; int b; };
struct item *items;       /* heap array of 5 */
int *item_b_ptr;          /* &items[3].b */
struct item *items_end;   /* one past the end */
struct item table[4];
int *table_ptr = &table[2].b;

int op_add(int a, int b) { return a + b; }
int op_sub(int a, int b) { return a - b; }
int op_mul(int a, int b) { return a * b; }
int (*ops[2])(int, int) = {op_add, op_sub};
struct handler { const char *name; int (*fn)(int, int); } handlers[2];

const char *greeting;
char *heap_name;

static int file_counter;
int bump(void) { static int calls; return ++calls + file_counter; }

struct point { int x, y; };
struct point *origin;
void *slots[3];
void *xmalloc(size_t n) { /* an allocation wrapper: one site for every type */
  void *p = malloc(n);
  if (!p) abort();
  return p;
}
struct tnode *wrapped_node; /* "wrapper" mode: typed, from xmalloc */
struct point *new_point(int x, int y) {
  struct point *p = malloc(sizeof *p);
  p->x = x, p->y = y;
  return p;
}

enum color { RED, GREEN, BLUE, MAGENTA };
enum color col = GREEN;
struct flags { unsigned a : 3; unsigned b : 5; int c : 4; } fl;
short small = -100;
double ratio = 0.5;
struct item *alias_item;
FILE *out_file;
unsigned char uc = 200;
struct inner { short s; char c; };
struct outer { struct inner in; struct inner arr[2]; long tail; } nest;
union slot { long n; struct point *p; } uslot = {5};
uintptr_t token = 12345;
struct gone { int a; long b; };  /* v2 has no struct gone; its gone_ptr is a void * */
struct gone *gone_ptr;
const char *prog_name;   /* argv[0]: the process's own argument strings */
const char *first_env;   /* the value of the first environment variable */
__thread long tls_value;           /* thread-local (the main thread's) */
__thread struct point *tls_point;

static unsigned hash(const char *k) { unsigned h = 5; while (*k) h = h * 33 + (unsigned char)*k++; return h % 8; }

static void build(void) {
  snprintf(var.str, 3, "%s", "ab");
  var.id = 7;
  var.u.i = 42;
  var.ptr = malloc(16);
  memset(var.ptr, 0x5a, 16);
  var.addr = 0x1234;
  var.inner_ptr = &ids[1];
  ids[1] = 11;
  for (int i = 0; i < 5; ++i) {
    struct node *n = malloc(sizeof *n);
    n->key = 10 * i, n->pad = -1, n->next = list_head, n->tag = (char)('a' + i);
    list_head = n;
  }
  ring.prev = ring.next = &ring;
  for (int i = 1; i <= 4; ++i) {
    struct dnode *d = malloc(sizeof *d);
    d->v = i;
    d->next = &ring, d->prev = ring.prev;
    ring.prev->next = d, ring.prev = d;
  }
  int keys[] = {50, 30, 70, 20, 40, 60, 80};
  for (int i = 0; i < 7; ++i) {
    struct tnode **at = &root;
    while (*at) at = keys[i] < (*at)->key ? &(*at)->left : &(*at)->right;
    *at = calloc(1, sizeof **at);
    (*at)->key = keys[i];
  }
  const char *words[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"};
  for (int i = 0; i < 6; ++i) {
    struct entry *e = malloc(sizeof *e);
    e->key = strdup(words[i]);
    e->value = i * 100;
    unsigned h = hash(words[i]);
    e->next = buckets[h];
    buckets[h] = e;
  }
  items = malloc(5 * sizeof *items);
  for (int i = 0; i < 5; ++i) items[i].a = i, items[i].b = 100 + i;
  item_b_ptr = &items[3].b;
  items_end = items + 5;
  for (int i = 0; i < 4; ++i) table[i].a = -i, table[i].b = 1000 + i;
  handlers[0].name = "add", handlers[0].fn = op_add;
  handlers[1].name = "sub", handlers[1].fn = op_sub;
  greeting = "hello, world";
  heap_name = strdup("a heap string");
  file_counter = 3;
  bump(), bump();
  origin = new_point(0, 0);
  for (int i = 0; i < 3; ++i) slots[i] = new_point(i, i * i);
  col = BLUE;
  fl.a = 5, fl.b = 9, fl.c = -3;
  nest.in.s = -2, nest.in.c = 'x', nest.arr[0].s = 1, nest.arr[1].c = 'y', nest.tail = 1L << 40;
  out_file = stderr;  /* libc's static data: the same object in v2's libc */
}

int main(int argc, char **argv, char **envp) {
  build();
  prog_name = argc > 1 && !strcmp(argv[1], "argmode") ? argv[1] : argv[0];
  first_env = envp[0] ? strchr(envp[0], '=') + 1 : NULL;
  tls_value = 77;
  tls_point = new_point(5, 6);
  if (argc > 1 && !strcmp(argv[1], "overflow")) small = 30000;      /* does not fit v2's signed char */
  if (argc > 1 && !strcmp(argv[1], "dangling")) var.inner_ptr = &ids[3]; /* v2 has only ids[2] */
  if (argc > 1 && !strcmp(argv[1], "removedfn")) ops[0] = op_mul;    /* v2 has no op_mul */
  if (argc > 1 && !strcmp(argv[1], "enum")) col = MAGENTA;            /* v2 has no MAGENTA */
  if (argc > 1 && !strcmp(argv[1], "twotypes")) alias_item = (struct item *)origin;
  int on_stack = 0;
  if (argc > 1 && !strcmp(argv[1], "stackptr")) out_file = (FILE *)&on_stack;
  if (argc > 1 && !strcmp(argv[1], "otherlib")) out_file = dlsym(dlopen("libm.so.6", RTLD_NOW), "signgam"); /* v2 maps no libm */
  if (argc > 1 && !strcmp(argv[1], "unionptr")) uslot.p = origin;
  if (argc > 1 && !strcmp(argv[1], "intptr")) token = (uintptr_t)origin;
  if (argc > 1 && !strcmp(argv[1], "gone")) gone_ptr = malloc(sizeof *gone_ptr);
  if (argc > 1 && !strcmp(argv[1], "epollstale")) {  /* a registration whose descriptor is closed */
    int ep = epoll_create1(0), p[2];
    if (pipe(p) != 0) return 1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = origin};
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    if (dup(p[0]) < 0) return 1; /* the pipe stays open, so the registration lives on */
    close(p[0]);
  }
  if (argc > 1 && !strcmp(argv[1], "wrapper")) {  /* a dnode behind void *, a tnode typed: both from xmalloc */
    wrapped_node = xmalloc(sizeof *wrapped_node);
    memset(wrapped_node, 0, sizeof *wrapped_node);
    struct dnode *d = xmalloc(sizeof *d);
    d->prev = d->next = d, d->v = 1;
    slots[2] = d;
  }
  if (argc > 1 && !strcmp(argv[1], "precision")) ratio = 0.1;          /* not exact as a float */
  if (argc > 1 && !strcmp(argv[1], "libobj")) out_file = fopen("/dev/null", "r"); /* libc's heap */
  if (argc > 1 && !strcmp(argv[1], "strlit")) greeting = "only in version 1";
  if (argc > 1 && !strcmp(argv[1], "voidptr")) slots[0] = malloc(24), ((void **)slots[0])[1] = origin;
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    TTST_UPDATE_POINT();
    var.count++;
    usleep(20000);
  }
}
