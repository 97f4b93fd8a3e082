/* buffers.c, version 2 — version 1's connections with struct foo changed: -DREORDER
 * (tag first, same 24 bytes), else the same layout. After its state is transferred
 * it prints how many buffers hold their text intact and how many foos their tag:
 * a buffer transformed as a foo would come out garbled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

#ifdef REORDER
struct foo {
  char tag[16];
  int a;
  int b;
};
#else
struct foo {
  int a;
  int b;
  char tag[16];
};
#endif
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
  int transferred = ttst_is_updating();
  if (!transferred)
    for (int i = 0; i < 8; ++i) open_conn(&conns[i], i);
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      int intact = 0, tags = 0;
      for (int i = 0; i < 8; ++i) {
        char want[24];
        snprintf(want, sizeof want, "buffer %d abcdefghijklmn", i);
        intact += conns[i].buf && memcmp(conns[i].buf, want, sizeof want) == 0;
        snprintf(want, sizeof want, "foo%d", i);
        tags += foos[i] && foos[i]->a == i && strcmp(foos[i]->tag, want) == 0;
      }
      printf("bufs:%d foos:%d\n", intact, tags);
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
