/* buffers.c, version 1 — a byte buffer next to an unrelated struct pointer, built
 * at -O2 (stfw/tests/blind_spot_test.cc, issue 14): open_conn does
 * `c->buf = malloc(24)` (a void * member) and only later assigns a `struct foo *f`
 * (24 bytes too) in the same block. Scope alone would take f's struct for the
 * buffer's type; the machine code stores the result into conn.buf. Eight connections, each
 * with its buffer (text) and its foo. Prints "ready", then loops through an update
 * point. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ttst.h"

struct foo {
  int a;
  int b;
  char tag[16];
};
struct conn {
  void *buf; /* bytes (text): nothing typed points to them */
  int id;
};
struct conn conns[8];
struct foo *foos[8];

__attribute__((noinline)) static struct foo *make_foo(int i) {
  struct foo *f = malloc(sizeof *f);
  f->a = i, f->b = 0;
  snprintf(f->tag, sizeof f->tag, "foo%d", i);
  foos[i] = f;
  return f;
}

__attribute__((noinline)) static void open_conn(struct conn *c, int i) {
  c->buf = malloc(24);
  snprintf(c->buf, 24, "buffer %d abcdefghijklmn", i);
  struct foo *f = make_foo(i);
  f->b = ((char *)c->buf)[7];
  c->id = i;
}

int main(void) {
  for (int i = 0; i < 8; ++i) open_conn(&conns[i], i);
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    TTST_UPDATE_POINT();
    usleep(20000);
  }
}
