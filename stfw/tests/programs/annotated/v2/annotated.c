/* annotated.c, version 2 — version 1's state (see v1) with its annotations: after
 * its state is transferred (future mode) it prints one summary line computed from
 * that state. Built four ways: as is; -DPLAIN (no NO_TRANSFER for `shape`, whose
 * type changed kind); -DBAD_ANNOTATION (an annotation that names nothing);
 * -DSMALL_PXFER (PXFER on an int). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

struct conn {
  int fd;
  long cookie;
  union { long n; struct conn *peer; } u;
  char *name;
  int extra;
};
TTST_PXFER(struct conn.cookie);
TTST_PXFER(struct conn.u);
TTST_RENAMED_FROM(struct conn.name, key);
struct conn conns[2];
struct conn *heap_conn;
uintptr_t handle;
TTST_PXFER(handle);
void *opaque;
int epfd = 9;
TTST_NO_TRANSFER(epfd);
long total;
TTST_RENAMED_FROM(total, old_total);
struct shape { int w, h; } shape = {4, 5};
#ifndef PLAIN
TTST_NO_TRANSFER(shape);
#endif
#ifdef BAD_ANNOTATION
TTST_IXFER(no_such_global);
#endif
#ifdef SMALL_PXFER
TTST_PXFER(struct conn.fd);
#endif

int main(void) {
  int transferred = ttst_is_updating();
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      struct conn *c0 = &conns[0];
      printf("literal:%d fd:%d cookie:%d heap:%d,%s peer:%d name:%s n:%ld name1:%s handle:%d opaque:%lx epfd:%d total:%ld shape:%d,%d\n",
             strcmp(c0->name, "first") == 0, c0->fd, (struct conn *)c0->cookie == heap_conn, heap_conn->fd, heap_conn->name, c0->u.peer == &conns[1],
             c0->name, conns[1].u.n, conns[1].name, (struct conn *)handle == &conns[1], (unsigned long)opaque, epfd,
             total, shape.w, shape.h);
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
