/* deadval — dangling pointers into memory unmapped since, beside live ones in the
 * same member (stfw/tests/dead_value_xfer_test.cc). nginx's read events in small:
 * a heap array of events, each with a `log` pointer; the events of open
 * connections point at a live log, those of closed connections keep pointing into
 * a block that was unmapped since (nginx: a destroyed pool, or a server that an
 * earlier update made keeps its old process's addresses). Those values lie in no
 * mapping, yet they are no integers: the member is not mixed, and the live logs
 * are translated. Stale text in one of them (a string's bytes malloc left there)
 * is no integer either. Every event's `data` holds a connection pointer; -DINTEGER makes
 * one closed event's `data` an integer (a count) instead: then `data` is mixed
 * and its live values are refused, as before.
 * Log contexts (nginx's ngx_http_log_ctx_t): `current` is read only while
 * `request` is set; a finished request's context keeps `current` pointing at the
 * freed request, whose block malloc has given to a `struct other` since. BUILD
 * declares TAGGED(struct ctx.current, request, 0:int, *:struct req): while
 * `request` is NULL the member is dead, its bits carried; else a struct req *.
 * The _notag variants lack it: the block is reached as two struct types. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ttst.h"

struct log {
  int level;
  char name[20];
};
struct conn {
  int fd;
  struct log *log;
};
struct ev {
  void *data; /* the connection */
  struct log *log;
  int active;
};

struct req {
  int id;
  char uri[28];
};
struct other { /* another 32-byte struct, where a freed request was */
  long count;
  struct log *log;
  long spare[2];
};
struct ctx {
  struct req *request; /* NULL between requests */
  struct req *current; /* read only while request is set */
};
struct ctx *ctxs;
struct other *reused;

#define NEVENTS 8
struct ev *events;
struct conn *conns;
#ifdef V2
long served_by_v2; /* v2 adds a global */
#endif

/* This process's own start-up answer to "was my state just transferred in?",
 * never the old version's: a local set before the loop is state the transfer
 * carries (the old version's 0) whenever the old version's frame holds it. */
static int transferred;
TTST_NO_TRANSFER(transferred);

int main(void) {
  transferred = ttst_is_updating();
  if (!transferred) {
    struct log *live = malloc(sizeof *live);
    live->level = 4, snprintf(live->name, sizeof live->name, "live-log");
    /* a block of its own, unmapped below: the closed connections' log was there */
    char *gone = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (gone == MAP_FAILED) return 1;
    struct log *dead = (struct log *)(gone + 4096 + 40);
    events = calloc(NEVENTS, sizeof *events);
    conns = calloc(NEVENTS, sizeof *conns);
    for (int i = 0; i < NEVENTS; i++) {
      conns[i].fd = i < 4 ? 10 + i : -1;
      conns[i].log = i < 4 ? live : dead;
      events[i].data = &conns[i];
      events[i].log = conns[i].log;
      events[i].active = i < 4;
    }
    /* the last closed connection's log word holds stale text instead, as malloc'd
     * memory that held a string does (nginx's never-used connections): ":104::\n" */
    memcpy(&conns[NEVENTS - 1].log, ":104::\n", 8);
    events[NEVENTS - 1].log = conns[NEVENTS - 1].log;
#ifdef INTEGER
    events[6].data = (void *)0x500000000L; /* an integer (a count), in no mapping */
#endif
    munmap(gone, 1 << 20);
    ctxs = calloc(2, sizeof *ctxs);
    struct req *r0 = malloc(sizeof *r0), *r1 = malloc(sizeof *r1);
    r0->id = 1, snprintf(r0->uri, sizeof r0->uri, "/live");
    r1->id = 2, snprintf(r1->uri, sizeof r1->uri, "/done");
    ctxs[0].request = ctxs[0].current = r0;
    ctxs[1].request = ctxs[1].current = r1;
    free(r1), ctxs[1].request = NULL; /* finished: current stays */
    reused = malloc(sizeof *reused);  /* malloc's cache gives r1's block back */
    reused->count = 5, reused->log = live;
    if ((void *)reused != (void *)ctxs[1].current) return 2;
    printf("ready\n");
    fflush(stdout);
  }
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      int live_ok = 0, kept = 0;
      for (int i = 0; i < 4; i++)
        live_ok += events[i].log && strcmp(events[i].log->name, "live-log") == 0 && events[i].data == &conns[i];
      for (int i = 4; i < NEVENTS; i++) kept += events[i].log == conns[i].log && events[i].log != conns[0].log;
#ifdef V2
      served_by_v2++;
#endif
      int ctx_ok = ctxs[0].request == ctxs[0].current && strcmp(ctxs[0].current->uri, "/live") == 0 &&
                   !ctxs[1].request && reused->count == 5 && reused->log == events[0].log;
      printf("live:%d dead_kept:%d level:%d ctx:%d\n", live_ok, kept, events[0].log->level, ctx_ok);
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
