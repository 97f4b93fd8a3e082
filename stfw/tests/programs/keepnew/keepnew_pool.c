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
 * prints the sessions' routes with v2's weights. -DKN_FEWER (v2): only two routes,
 * so a session on the third has no counterpart (refused, named).
 * Versions: -DKN_VERSION=1|2; -DKN_KEEP adds the annotation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

#ifndef KN_VERSION
#define KN_VERSION 1
#endif
TTST_CONTAINER(conf_pool, struct conf|struct route);
#ifdef KN_KEEP
TTST_KEEP_NEW(conf);
#endif

struct route {
#if KN_VERSION >= 2
  int priority; /* v2: added in front, the layout differs */
#endif
  char name[16];
  int weight;
};

struct conf {
  int nroutes;
  struct route *routes[8];
};

struct session {
  struct route *route; /* run-time state pointing into the configuration */
  long hits;
};

void *conf_pool;        /* the pool block */
unsigned long pool_used; /* bytes of it handed out */
struct conf *conf;      /* the configuration, built at start-up */
struct session *sessions;
int nsessions;

static void *palloc(unsigned long n) {
  void *p = (char *)conf_pool + pool_used;
  pool_used += (n + 15) & ~15ul;
  return p;
}

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
#if KN_VERSION >= 2
  palloc(48); /* v2's start-up takes something else first: every offset moves */
#endif
  conf = palloc(sizeof *conf);
  conf->nroutes = n;
  for (int i = 0; i < n; i++) {
    struct route *r = palloc(sizeof *r);
    strcpy(r->name, names[i]);
    r->weight = (KN_VERSION >= 2 ? 1000 : 10) * (i + 1);
#if KN_VERSION >= 2
    r->priority = i;
#endif
    conf->routes[i] = r;
  }
}

int main(void) {
  build_conf();
  int transferred = ttst_is_updating();
  if (!transferred) {
    nsessions = 6;
    sessions = calloc(nsessions, sizeof *sessions);
    for (int i = 0; i < nsessions; i++) sessions[i].route = conf->routes[i % 3], sessions[i].hits = 100 * i;
    printf("ready\n");
    fflush(stdout);
  }
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      printf("routes:%d", conf->nroutes);
      for (int i = 0; i < nsessions; i++)
        printf(" %s:%ld:%d", sessions[i].route->name, sessions[i].hits, sessions[i].route->weight);
      printf("\n");
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
