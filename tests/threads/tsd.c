/* tsd.c — a single-threaded program whose thread-specific data (pthread_setspecific)
 * names a heap object its start-up makes: the main thread's descriptor (glibc's
 * struct pthread, where keys' values live) must be remapped by the transfer also
 * when the program has no other thread. Two versions (TSD_VERSION 1, 2; v2's box
 * gains a member). The box is also reachable from the global `box`, so it is
 * state; the update point's loop reads it only through pthread_getspecific.
 * Reads lines on stdin: "inc" adds one to the box's count, replying "count=N"
 * (N read through pthread_getspecific). Prints "READY" once started (not when
 * updated). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ttst.h>

struct tsd_box {
#if TSD_VERSION >= 2
  long added; /* v2's new member: the layout changes */
#endif
  long count;
};

static pthread_key_t box_key;
struct tsd_box *box; /* state: P's box is transferred through it */

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  pthread_key_create(&box_key, NULL);
  box = calloc(1, sizeof *box); /* v2's start-up box, superseded by P's */
  pthread_setspecific(box_key, box);
  if (!ttst_is_updating()) printf("READY\n");
  char line[64];
  for (;;) {
    TTST_UPDATE_POINT();
    ssize_t n = read(0, line, sizeof line - 1);
    if (n <= 0) return 0;
    line[n] = 0;
    if (!strncmp(line, "inc", 3)) {
      struct tsd_box *b = pthread_getspecific(box_key);
      b->count++;
      printf("count=%ld same=%d\n", b->count, b == box);
    }
  }
}
