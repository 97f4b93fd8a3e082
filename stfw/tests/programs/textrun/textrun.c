/* textrun — text in pool blocks (stfw/tests/carve_xfer_test.cc), as nginx keeps a
 * connection's peer address: `addr_text`, a {len, data} string whose data is
 * allocated from the connection's pool without alignment and without a NUL, so the
 * bytes after it are whatever the block held before (malloc reuses blocks). Here
 * the word after the text held a pointer into a live heap block: the text's last
 * byte overwrote only its low byte, so it still looks like a pointer. Only char
 * pointers reach the text.
 * Each connection's pool block holds its log (typed: conn.log), the text, and its
 * peer (typed: conn.peer). The second connection's `host` points into the middle
 * of its address text (two strings in one text: one run), and the string `cursor`
 * into the first log's name (text inside a struct: a view of the struct, no run).
 * BUILD: _len declares the length (USED_N(str_t.data, len)): transferred; _nolen
 * does not: refused, the refusal says the text's length is unknown. -DSTALE_FREE
 * leaves a stale pointer in each block's unused part too (after `last`): _free
 * declares that part free (FREE_UPTO(pool_t.last, end): not copied, zeroed in the
 * new version, which allocates from it); _stale does not (refused: the stale word
 * lies in the last sub-object's tail).
 * After the update the new version prints what it finds through each pointer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

#define BLOCK 256

typedef unsigned char u_char;
typedef struct pool_s pool_t;
struct pool_s {
  u_char *last, *end;
  pool_t *next;
  long failed;
};
typedef struct {
  unsigned long len;
  u_char *data;
} str_t;
struct log {
  char name[16];
  long level;
};
struct peer {
  struct log *log;
  long port;
};
struct conn {
  pool_t *pool;
  struct log *log;
  str_t addr_text;
  str_t host;
  struct peer *peer;
};

struct conn conns[2];
str_t cursor;      /* into the first log's name */
char *reused_from; /* the live block the stale bytes point into */
#ifdef V2
long served_by_v2; /* v2 adds a global */
#endif

static void *palloc(pool_t *p, size_t n, int aligned) {
  if (aligned) p->last = (u_char *)(((unsigned long)p->last + 7) & ~7ul);
  void *m = p->last;
  p->last += n;
  return m;
}

static void open_conn(struct conn *c, const char *text, long port, const char *name) {
  pool_t *p = malloc(BLOCK);
  memset(p, 0, BLOCK);
  p->last = (u_char *)(p + 1), p->end = (u_char *)p + BLOCK;
  c->pool = p;
  c->log = palloc(p, sizeof *c->log, 1);
  snprintf(c->log->name, sizeof c->log->name, "%s", name);
  c->log->level = 4;
  c->addr_text.len = strlen(text);
  c->addr_text.data = palloc(p, c->addr_text.len, 0);
  char *stale = reused_from + 2048; /* the block's previous use: a pointer after the text */
  unsigned long word = (unsigned long)c->addr_text.data + 8;
  memcpy((void *)word, &stale, sizeof stale);
  memcpy(c->addr_text.data, text, c->addr_text.len); /* no NUL: its last byte over the stale word */
  c->peer = palloc(p, sizeof *c->peer, 1);
  c->peer->log = c->log, c->peer->port = port;
#ifdef STALE_FREE
  memcpy((char *)p + 200, &stale, sizeof stale); /* the unused part [last, end) holds stale bytes too */
#endif
}

/* This process's own start-up answer to "was my state just transferred in?",
 * never the old version's: a local set before the loop is state the transfer
 * carries (the old version's 0) whenever the old version's frame holds it. */
static int transferred;
TTST_NO_TRANSFER(transferred);

int main(void) {
  transferred = ttst_is_updating();
  if (!transferred) {
    reused_from = malloc(4096);
    memset(reused_from, 'r', 4096);
    open_conn(&conns[0], "127.0.0.1", 51000, "conn0");
    open_conn(&conns[1], "10.0.0.22", 52000, "conn1");
    conns[1].host.data = conns[1].addr_text.data + 3, conns[1].host.len = 6;
    cursor.data = (u_char *)conns[0].log->name + 2, cursor.len = 3;
    printf("ready\n");
    fflush(stdout);
  }
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      printf("text0:%.*s text1:%.*s host1:%.*s ports:%ld,%ld logs:%s,%s same_log:%d cursor:%.*s reused:%c",
             (int)conns[0].addr_text.len, conns[0].addr_text.data, (int)conns[1].addr_text.len,
             conns[1].addr_text.data, (int)conns[1].host.len, conns[1].host.data, conns[0].peer->port,
             conns[1].peer->port, conns[0].log->name, conns[1].log->name,
             conns[0].peer->log == conns[0].log && conns[1].peer->log == conns[1].log, (int)cursor.len, cursor.data,
             reused_from[2048]);
#ifdef STALE_FREE
      struct peer *more = palloc(conns[0].pool, sizeof *more, 1); /* from the transferred free part */
      more->port = 53000;
      printf(" free_word:%lx more:%ld", *(unsigned long *)((char *)conns[0].pool + 200), more->port);
#endif
      printf("\n");
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
