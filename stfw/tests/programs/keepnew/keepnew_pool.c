/* keepnew_pool — start-up state in a pool block, kept by TTST_KEEP_NEW and paired
 * structurally (stfw/tests/keep_new_test.cc; issue 18 item 1, nginx's route 2).
 *
 * Start-up carves a configuration out of one pool block (the global `conf_pool`, a
 * TTST_CONTAINER): `conf`, then one `struct route` per route, each from the pool.
 * Run-time state (`sessions`, a heap array) points at routes. v2 changes the
 * layout inside the block: `struct route` gains a member in front, and its
 * start-up takes 48 bytes from the pool before `conf`, so every route sits at
 * another offset; it also has one route more and other weights. With
 * TTST_KEEP_NEW(conf) v2's configuration is kept and each session's route is
 * paired with v2's route of the same index (conf->routes[i]): the new version
 * prints the sessions' routes with v2's weights; the fallback route is reached
 * only through `void *fallback` (TTST_POINTS_TO), which the kept walk follows. -DKN_FEWER (v2): only two routes,
 * so a session on the third has no counterpart (refused, named).
 * Versions: -DKN_VERSION=1|2; -DKN_KEEP adds the annotation; -DKN_CYCLE puts
 * the configuration's root in a heap struct (`cycle->conf`, as nginx's
 * ngx_cycle->conf_ctx) kept by TTST_KEEP_NEW_AT(cycle, conf). -DKN_VOID (with
 * KN_CYCLE) adds what nginx's cycle holds besides: the cycle is carved out of the
 * pool itself, followed by an array of route names reached only through
 * `void *names.elts` of an embedded table header (nginx's `ngx_array_t paths`),
 * and `void *blob` points at an untyped heap block of start-up state; with
 * -DKN_KEEP they are kept too (KEEP_NEW_AT(cycle, names), KEEP_NEW_AT(cycle, blob)),
 * and sessions' `void *tag` at their starts land on v2's. The configuration points
 * back at the cycle (`conf->owner`), which is transferred, not kept, and at the
 * value before it in the pool (`conf->hdr`), kept, whose end is where the cycle starts;
 * `conf->stale` points at the sessions' block as a long * (nginx: a stale pointer of
 * the configuration into memory since reused), and `conf->first` as a struct session *
 * (nginx's ls->connection into the connections): the sessions are transferred anyway,
 * their block being a transferred global's. -DKN_ORDER (with KN_VOID): `conf->order`,
 * a struct route ** into the pool, points where `conf->head` carves a one-member
 * struct (nginx: a T ** at an ngx_array_t): the kept walk takes the value of its
 * type there, not the carved sub-object's whole extent as more elements (the array's
 * other elements and the next allocations: without a counterpart, they unpaired the
 * routes they point to). -DKN_HEADER (with KN_VOID): the pool starts with a header
 * struct (nginx's ngx_pool_t) that the transferred cycle and the kept configuration
 * both point to (`cycle->pool`; `conf->pool`, as nginx's ngx_array_t.pool): it is
 * kept and paired with v2's header at the base of v2's block, so the block goes into
 * v2's block (engine_keep_into.cc): the cycle takes the place of v2's start-up cycle
 * (v2 takes its 48 bytes after the cycle then; -DKN_MOVED: before it, so the cycle
 * would land elsewhere in v2's block: refused). -DKN_STALE: start-up makes a temporary
 * pool and frees it, and the kept configuration still points at it (`conf->temp`; nginx:
 * `cscf->server_names.pool`, an array of cf->temp_pool, destroyed after start-up); at run
 * time every session gets a pool of its own (nginx: a connection's pool), from the same
 * allocation site. v2's temporary pool goes back to glibc when freed (v1's, smaller,
 * into ttst's cache of small blocks), so in F the first block the forward transfer
 * allocates (P's copy of its pool block, which `conf_pool` points to) lies where v2's
 * temporary pool was: the backward run, walking F's kept graph, met that transferred
 * block through the stale `conf->temp` and kept it, without a counterpart in P's graph,
 * and refused `conf_pool` (nginx: F's first connection pool there, and
 * `cycle->connections[1].pool` refused). A block the forward transfer allocated is no
 * start-up state of v2's. The configuration also points at the sessions array start-up
 * made (`conf->live`; nginx: `ls->connection` into `cycle->connections`), which the
 * transferred `sessions` replaces: after the update it points at the transferred array
 * (it kept pointing at v2's start-up array, which the transfer then freed). -DKN_LIVE
 * (with KN_HEADER): the same through the struct holding the KEEP_NEW_AT roots: start-up
 * makes `cycle->made` (nginx: `cycle->connections`) and `conf->live` points at it; the
 * transferred cycle, which lands on v2's start-up cycle, brings P's: v2's start-up array
 * is superseded and freed, and `conf->live` points at P's (translated). -DKN_GUARD (with
 * KN_STALE): start-up allocates a block after the temporary pool, so its hole is not the
 * heap's top: the transfer's first block (P's pool block) does not fit there and the
 * next, P's sessions array, does: in F `conf->temp` (a struct pool_hdr *) points at a
 * struct session array; with pools declared by type (TTST_CONTAINER(struct pool_hdr, ...),
 * nginx's ngx_pool_t) the backward run's typing declared that array a pool and refused it
 * as reached as both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

#ifndef KN_VERSION
#define KN_VERSION 1
#endif
TTST_CONTAINER(conf_pool, struct conf|struct route);
#ifdef KN_GUARD
TTST_CONTAINER(struct pool_hdr, struct pool_hdr); /* pools by type, as nginx's ngx_pool_t */
#endif
#if defined(KN_KEEP) && defined(KN_CYCLE)
TTST_KEEP_NEW_AT(cycle, conf); /* the root is a member of a transferred struct */
#ifdef KN_VOID
TTST_KEEP_NEW_AT(cycle, names); /* an embedded table header: kept with v2's counts */
TTST_KEEP_NEW_AT(cycle, blob);  /* a void * to an untyped block */
#endif
#elif defined(KN_KEEP)
TTST_KEEP_NEW(conf);
#endif

struct route {
#if KN_VERSION >= 2 && !defined(KN_STALE) /* KN_STALE: one layout, so ttst-supervise's plan needs no transfer code */
  int priority; /* v2: added in front, the layout differs */
#endif
  char name[16];
  int weight;
};

struct cycle;
struct conf {
  int nroutes;
  struct route *routes[8];
  void *fallback; /* a route, reached only through this void * (POINTS_TO) */
#ifdef KN_VOID
  struct cycle *owner; /* back to the transferred struct holding the roots (nginx: cf->cycle) */
  struct hdr *hdr;     /* a value right before the (transferred) cycle in the pool */
  long *stale;         /* v1: set after start-up to the sessions' block (memory reused), v2: NULL */
  struct session *first; /* run-time state the configuration points to (nginx: ls->connection) */
#endif
#ifdef KN_HEADER
  struct pool_hdr *pool; /* the pool's header at its base (nginx: ngx_array_t.pool) */
#endif
#ifdef KN_STALE
  struct pool_hdr *temp; /* a temporary pool of start-up, freed: stale (nginx: cf->temp_pool's arrays) */
#endif
#if defined(KN_STALE) || defined(KN_LIVE)
  struct session *live;  /* start-up's sessions array, which the transfer replaces (nginx: ls->connection) */
#endif
#ifdef KN_ORDER
  struct route **order; /* the routes again, an array in the pool */
  struct rhead *head;   /* its start as a struct (carves a sub-object there) */
#endif
};
struct hdr {
  long magic, size;
};
struct rhead {
  struct route *first;
};
struct pool_hdr {
  long version; /* which start-up built the pool */
  unsigned long size;
};

TTST_POINTS_TO(struct conf.fallback, struct route);

struct session {
  struct route *route; /* run-time state pointing into the configuration */
  long hits;
#ifdef KN_VOID
  void *tag; /* the start of the names array or of the blob (untyped kept state) */
#endif
#ifdef KN_STALE
  struct pool_hdr *pool; /* the session's own pool, made at run time (nginx: c->pool) */
#endif
};

struct table {
  void *elts; /* untyped, as ngx_array_t's */
  unsigned long nelts;
};

void *conf_pool;        /* the pool block */
#ifdef KN_GUARD
char *guard; /* KN_GUARD: a block of start-up after the temporary pool */
#endif
unsigned long pool_used; /* bytes of it handed out */
#ifdef KN_CYCLE
struct cycle {
  long served;
  struct conf *conf; /* the configuration, built at start-up */
#ifdef KN_VOID
  struct table names; /* char * per route, in the pool right after the cycle */
  void *blob;         /* an untyped heap block: char * to strings in the pool */
#endif
#ifdef KN_HEADER
  struct pool_hdr *pool; /* the pool's header (nginx: cycle->pool): v2's after the update */
#endif
#ifdef KN_LIVE
  struct session *made; /* run-time state made at start-up (nginx: cycle->connections) */
#endif

} *cycle;            /* transferred; only its `conf` is v2's (KEEP_NEW_AT) */
#define CONF (cycle->conf)
#else
struct conf *conf; /* the configuration, built at start-up */
#define CONF conf
#endif
struct session *sessions;
int nsessions;

static void *palloc(unsigned long n) {
  void *p = (char *)conf_pool + pool_used;
  pool_used += (n + 15) & ~15ul;
  return p;
}

#ifdef KN_STALE
/* One allocation site for every pool (nginx: ngx_create_pool's ngx_memalign). */
static __attribute__((noinline)) struct pool_hdr *pool_create(unsigned long size) {
  struct pool_hdr *p = calloc(1, size);
  p->version = KN_VERSION, p->size = size;
  return p;
}
#endif

static void build_conf(void) {
  static const char *const names[] = {"alpha", "beta", "gamma", "delta"};
#if KN_VERSION >= 2 && defined(KN_FEWER)
  int n = 2;
#elif KN_VERSION >= 2
  int n = 4;
#else
  int n = 3;
#endif
  conf_pool = calloc(1, 4096);
#ifdef KN_HEADER
  struct pool_hdr *ph = palloc(sizeof *ph); /* the pool's header at its base, as nginx's ngx_pool_t */
  ph->version = KN_VERSION, ph->size = 4096;
#else
  palloc(16); /* the pool's own header, as nginx's ngx_pool_t: no value at the base */
#endif
#if KN_VERSION >= 2 && (!defined(KN_HEADER) || defined(KN_MOVED))
  palloc(48); /* v2's start-up takes something else first: every offset moves */
#endif
#if defined(KN_CYCLE) && defined(KN_VOID)
  struct hdr *hdr = palloc(sizeof *hdr); /* kept (conf->hdr); its end is where the cycle starts */
  hdr->magic = 0x5eed, hdr->size = 4096;
  cycle = palloc(sizeof *cycle); /* as nginx's: in the pool, its configuration after it */
#if KN_VERSION >= 2 && defined(KN_HEADER) && !defined(KN_MOVED)
  palloc(48); /* v2's start-up takes something else after the cycle: the routes move */
#endif
  cycle->names.elts = palloc(n * sizeof(char *));
  cycle->names.nelts = n;
  char *text = palloc(16);
  strcpy(text, KN_VERSION >= 2 ? "v2blob" : "v1blob");
  cycle->blob = malloc(4 * sizeof(char *));
  ((char **)cycle->blob)[0] = text, ((char **)cycle->blob)[1] = text + 2;
  ((char **)cycle->blob)[2] = ((char **)cycle->blob)[3] = 0;
#elif defined(KN_CYCLE)
  cycle = calloc(1, sizeof *cycle);
#endif
  CONF = palloc(sizeof *CONF);
  CONF->nroutes = n;
#ifdef KN_STALE
  nsessions = 7;
  CONF->live = sessions = calloc(nsessions, sizeof *sessions); /* run-time state made at start-up */
  CONF->temp = pool_create(KN_VERSION >= 2 ? 2048 : 1024); /* v2's goes back to glibc, v1's to ttst's cache */
#ifdef KN_GUARD
  guard = malloc(32); /* after the temporary pool: its hole is not the heap's top */
#endif
  free(CONF->temp); /* start-up is over: the temporary pool goes, the pointer stays */
#endif
#ifdef KN_LIVE
  CONF->live = cycle->made = calloc(7, sizeof(struct session)); /* P's replaces v2's: v2's is freed */
#endif
#ifdef KN_VOID
  CONF->owner = cycle;
  CONF->hdr = hdr;
#endif
  for (int i = 0; i < n; i++) {
    struct route *r = palloc(sizeof *r);
    strcpy(r->name, names[i]);
    r->weight = (KN_VERSION >= 2 ? 1000 : 10) * (i + 1);
#if KN_VERSION >= 2 && !defined(KN_STALE)
    r->priority = i;
#endif
    CONF->routes[i] = r;
#ifdef KN_VOID
    ((char **)cycle->names.elts)[i] = r->name;
#endif
  }
  struct route *fallback = palloc(sizeof *fallback);
  strcpy(fallback->name, "omega");
  fallback->weight = KN_VERSION >= 2 ? 9000 : 90;
  CONF->fallback = fallback;
#ifdef KN_HEADER
  cycle->pool = CONF->pool = ph;
#endif
#ifdef KN_ORDER
  CONF->order = palloc(n * sizeof(struct route *));
  for (int i = 0; i < n; i++) CONF->order[i] = CONF->routes[i];
  CONF->head = (struct rhead *)CONF->order;
#endif
}

/* This process's own start-up answer to "was my state just transferred in?",
 * never the old version's: a local set before the loop is state the transfer
 * carries (the old version's 0) whenever the old version's frame holds it. */
static int transferred;
TTST_NO_TRANSFER(transferred);

int main(void) {
  build_conf();
  transferred = ttst_is_updating();
  if (!transferred) {
#ifdef KN_STALE
    struct pool_hdr *pools[7]; /* sessions: start-up's array (as nginx's cycle->connections) */
    for (int i = 0; i < nsessions; i++) pools[i] = pool_create(512), pools[i]->version = 100 + i;
#else
    nsessions = 7;
    sessions = calloc(nsessions, sizeof *sessions);
#endif
    for (int i = 0; i < nsessions; i++) sessions[i].route = CONF->routes[i % 3], sessions[i].hits = 100 * i;
    sessions[6].route = CONF->fallback;
#ifdef KN_STALE
    for (int i = 0; i < nsessions; i++) sessions[i].pool = pools[i];
#endif
#ifdef KN_VOID
    sessions[0].tag = cycle->names.elts, sessions[1].tag = cycle->blob;
    CONF->stale = (long *)sessions; /* another type than the sessions' own: not kept */
    CONF->first = sessions;         /* the global `sessions` points there too: transferred */
#endif
    printf("ready\n");
    fflush(stdout);
  }
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      printf("routes:%d", CONF->nroutes);
      for (int i = 0; i < nsessions; i++)
        printf(" %s:%ld:%d", sessions[i].route->name, sessions[i].hits, sessions[i].route->weight);
#ifdef KN_VOID
      printf(" names:%lu:%s blob:%s", cycle->names.nelts, ((char **)sessions[0].tag)[cycle->names.nelts - 1],
             ((char **)sessions[1].tag)[0]);
#endif
#ifdef KN_HEADER
      printf(" pool:%ld,%d,%d", cycle->pool->version, (void *)cycle->pool == conf_pool && cycle->pool == CONF->pool,
             (char *)cycle == (char *)conf_pool + 32);
#endif
#ifdef KN_STALE
      long pools = 0;
      for (int i = 0; i < nsessions; i++) pools += sessions[i].pool->version + (long)sessions[i].pool->size;
      printf(" pools:%ld live:%d", pools, CONF->live == sessions);
#endif
#ifdef KN_LIVE
      printf(" live:%d", CONF->live == cycle->made && cycle->made);
#endif
#ifdef KN_ORDER
      printf(" order:%s,%s,%d", CONF->order[0]->name, CONF->order[CONF->nroutes - 1]->name,
             (void *)CONF->head == (void *)CONF->order);
#endif
      printf("\n");
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
