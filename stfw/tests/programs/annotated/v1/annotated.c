/* annotated.c, version 1 — state the automatic transfer cannot get right alone, and
 * the ttst.h annotations that tell it what to do (stfw/tests/annotation_xfer_test.cc):
 * a long and a union that hold pointers (PXFER in v2), an address kept only as an
 * opaque key (IXFER, annotated here in v1: either version's annotations count), a
 * process-specific descriptor (NO_TRANSFER in v2), a global and a member renamed
 * in v2 (RENAMED_FROM), and a global whose type changes kind (NO_TRANSFER in v2).
 * Builds its state, prints "ready", then loops through an update point. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

struct conn {
  int fd;
  long cookie;                                /* holds a struct conn * */
  union { long n; struct conn *peer; } u;     /* a number or a pointer */
  char *key;                                  /* v2: name */
};
struct conn conns[2];
struct conn *heap_conn;
uintptr_t handle;      /* &conns[1] as an integer */
void *opaque;          /* an address used only as a key, never dereferenced */
TTST_IXFER(opaque);
int epfd = 7;          /* v2 keeps its own */
long old_total;        /* v2: total */
int shape = 3;         /* v2: struct shape */

int main(void) {
  heap_conn = malloc(sizeof *heap_conn);
  memset(heap_conn, 0, sizeof *heap_conn);
  heap_conn->fd = 11;
  heap_conn->key = strdup("heapkey");
  conns[0].fd = 1, conns[0].cookie = (long)heap_conn, conns[0].u.peer = &conns[1], conns[0].key = "first";
  conns[1].fd = 2, conns[1].u.n = 77, conns[1].key = strdup("second");
  handle = (uintptr_t)&conns[1];
  opaque = heap_conn;
  old_total = 42;
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    TTST_UPDATE_POINT();
    usleep(20000);
  }
}
