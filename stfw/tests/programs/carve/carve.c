/* carve.c — a server's state carved out of big blocks (stfw/tests/carve_xfer_test.cc):
 * a memcached-like slab allocator (1.2-style: pages of fixed-size chunks per class,
 * a list of free chunks in `slots`, the unused page tail at end_page_ptr) whose
 * items are a struct with a flexible tail (key and value bytes after it), reached
 * through a hash table of item pointers and LRU lists; and an nginx-like pool
 * (blocks that start with a pool_t header, sub-allocations carved after it, blocks
 * linked by pool_t.next); and a zmalloc-style header wrapper (malloc(n + 8), the
 * size first, returns p + 8) for sessions and their names. The slab pages are declared in the source (TTST_SLAB);
 * the pools through ttst-cc's TTST_ANNOTATIONS (BUILD). Built three ways: V1, V2
 * (a global and a member added outside the carved types), and V2 with ITEM_CAS
 * (item grows a cas field: cannot stay in place, needs transfer code); V1 also
 * with TAIL_POINTER (a pool allocation reached only through void * holds a pointer:
 * refused, it would be copied blind as the bytes after the last node); V1 and V2
 * also with CYCLE_POOL (nginx's cycle: a struct allocated in the first block of
 * its own pool, reached only by a pointer past the block's header, holding the
 * pool's pointer and a pointer to one of its own members).
 * v1 builds its state, prints "ready" and loops through an update point; v2,
 * once its state is transferred in, checks every item and node, allocates new
 * items (from the free slots and the page tails) and prints one line. A conn
 * halfway through a set holds an unlinked item by `void *` (POINTS_TO in BUILD).
 * The free chunks and page tails are declared free memory (TTST_FREE_SLOTS_N,
 * TTST_FREE_SLOTS; NO_FREE_SLOTS: without, refused), and a client table's free
 * entries a free list (TTST_FREE_LIST; NO_FREE_LIST: without, refused); with
 * STALE_BUFFER a closed client also keeps a pointer into its freed, unmapped
 * buffer, where a live client's buffer pointer is live: a free element is no
 * evidence that the member holds integers (engine_values.cc). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ttst.h"

typedef struct _stritem {
  struct _stritem *next, *prev; /* LRU */
  struct _stritem *h_next;      /* hash chain */
#ifdef ITEM_CAS
  uint64_t cas;
#endif
  int nbytes;
  uint8_t slabs_clsid, nkey;
  void *end[0]; /* then the key (NUL-terminated), then the value */
} item;
#define ITEM_key(it) ((char *)&(it)->end[0])
#define ITEM_data(it) (ITEM_key(it) + (it)->nkey + 1)

typedef struct {
  unsigned int size, perslab;
  void **slots; /* free chunks */
  unsigned int sl_total, sl_curr;
  void *end_page_ptr; /* the next never-used chunk of the last page */
  unsigned int end_page_free;
  unsigned int slabs;
  void **slab_list; /* the pages */
  unsigned int list_size;
} slabclass_t;
TTST_SLAB_N(slabclass_t.slab_list, slabs, size, item); /* pages: slab_list[0 .. slabs) */
#ifndef NO_FREE_SLOTS
/* The free chunks (slots[0 .. sl_curr)) and the last page's unused tail: pointers
 * into free memory of the pages, declared so (else refused: a pointer into bytes
 * no item holds could be live data the transfer would not carry). */
TTST_FREE_SLOTS_N(slabclass_t.slots, sl_curr);
TTST_FREE_SLOTS(slabclass_t.end_page_ptr);
#endif

#define CLASSES 3
#define PAGE 4096
static slabclass_t slabclass[CLASSES + 1];
static item **hashtable; /* 64 chains */
static item *heads[CLASSES + 1], *tails[CLASSES + 1];
static char *cursor;     /* into an item's value, as a connection's read pointer */
/* A connection halfway through a `set` (memcached's conn): its item is allocated
 * but linked nowhere yet, reached only through `void *item` (and a char * into its
 * value); BUILD declares POINTS_TO(conn.item, item), without which the chunk would
 * be free memory, its bytes lost. Its iovec array keeps stale entries past
 * iovused that point into a freed buffer (dead pointers, never read before being
 * rewritten): BUILD declares USED_N(conn.iov, iovused), without which they are
 * refused as dangling. wcurr still points into that freed buffer: a dead pointer,
 * carried as it is (stfw/README.md "Dead pointers"). */
typedef struct {
  void *item;
  char *ritem;
  int rlbytes;
  struct iovec *iov;
  int iovsize, iovused;
  char *wcurr;  /* where the last reply was written from: its buffer is freed (dead) */
} conn;
static conn reading;
#ifdef V2
long served = 5;         /* v2 only */
#endif

static void *slabs_alloc(unsigned int id) {
  slabclass_t *p = &slabclass[id];
  if (p->sl_curr > 0) return p->slots[--p->sl_curr];
  if (p->end_page_free == 0) {
    if (p->slabs == p->list_size) {
      p->list_size = p->list_size ? 2 * p->list_size : 2;
      p->slab_list = realloc(p->slab_list, p->list_size * sizeof(void *));
      /* the unused entries hold stale bytes: here the address of a live block
       * (the hash table), which must not be taken for a page */
      for (unsigned k = p->slabs; k < p->list_size; ++k) p->slab_list[k] = hashtable;
    }
    p->end_page_ptr = malloc(p->size * p->perslab);
    p->slab_list[p->slabs++] = p->end_page_ptr;
    p->end_page_free = p->perslab;
  }
  void *it = p->end_page_ptr;
  p->end_page_ptr = --p->end_page_free ? (char *)it + p->size : 0;
  return it;
}

static void slabs_free(void *ptr, unsigned int id) {
  slabclass_t *p = &slabclass[id];
  if (p->sl_curr == p->sl_total) {
    p->sl_total = p->sl_total ? 2 * p->sl_total : 4;
    p->slots = realloc(p->slots, p->sl_total * sizeof(void *));
    /* the unused entries hold whatever the reused memory held (memcached: bytes of
     * a freed read buffer): text here, never a pointer */
    for (unsigned k = p->sl_curr; k < p->sl_total; ++k) memcpy(&p->slots[k], "3-v13-v1", 8);
  }
  p->slots[p->sl_curr++] = ptr;  /* the chunk keeps its old bytes: free memory */
}

static unsigned hash(const char *k) {
  unsigned h = 5381;
  while (*k) h = h * 33 + (unsigned char)*k++;
  return h & 63;
}

static item *item_new(const char *key, const char *value, int nbytes) {
  int nkey = (int)strlen(key), total = (int)sizeof(item) + nkey + 1 + nbytes;
  unsigned id = 1;
  while (id <= CLASSES && slabclass[id].size < (unsigned)total) ++id;
  if (id > CLASSES) return NULL;
  item *it = slabs_alloc(id);
  it->slabs_clsid = (uint8_t)id, it->nkey = (uint8_t)nkey, it->nbytes = nbytes;
  memcpy(ITEM_key(it), key, nkey + 1);
  memcpy(ITEM_data(it), value, nbytes);
  unsigned h = hash(key);
  it->h_next = hashtable[h], hashtable[h] = it;
  it->prev = 0, it->next = heads[id];
  if (heads[id]) heads[id]->prev = it;
  heads[id] = it;
  if (!tails[id]) tails[id] = it;
  return it;
}

static item *item_get(const char *key) {
  for (item *it = hashtable[hash(key)]; it; it = it->h_next)
    if (strcmp(ITEM_key(it), key) == 0) return it;
  return NULL;
}

static void item_unlink(item *it) {
  item **pos = &hashtable[hash(ITEM_key(it))];
  while (*pos != it) pos = &(*pos)->h_next;
  *pos = it->h_next;
  unsigned id = it->slabs_clsid;
  if (it->prev) it->prev->next = it->next; else heads[id] = it->next;
  if (it->next) it->next->prev = it->prev; else tails[id] = it->prev;
  slabs_free(it, id);
}

/* The pool: blocks of POOL_BLOCK bytes, a pool_t header first. */
typedef struct pool_s {
  char *last, *end;     /* the free part of this block */
  struct pool_s *next;  /* the next block */
  int failed;
} pool_t;
struct node {
  struct node *next;
  long value;
  char *label;          /* a string in the pool */
};
#define POOL_BLOCK 512
#ifdef TAIL_POINTER
static void *stash;     /* a pool allocation reached only through void *, holding a pointer */
#endif
static pool_t *pool;    /* BUILD's TTST_ANNOTATIONS: CONTAINER(carve.c::pool, ...), CONTAINER(pool_t.next, ...) */
static struct node *nodes;

#ifdef CYCLE_POOL
/* nginx's ngx_cycle_t: its pool's first block holds it right after the header; the
 * block is a container only because cycle->pool says so (by type), and
 * cycle->logp points to the embedded log member (not a sub-object of its own). */
struct log {
  int level;
  struct log *next;
};
struct cycle {
  pool_t *pool;
  struct log log;
  struct log *logp;
  long generation;
};
static struct cycle *volatile cycle;
#endif

/* nginx's connections: a table whose free entries form a list linked by `data`.
 * A closed client keeps its stale pool and first pointers (nginx keeps c->pool):
 * its pool block was freed and reused as another client's second block, where the
 * stale `first` now points at a label string; another closed client, the list's
 * head, inside the table, keeps `pool` pointing to a block reused as a text
 * buffer (declared a pool by type without FREE_LIST, its text then free memory
 * and the live char * to it refused). FREE_LIST says the free entries are
 * not state but for `data` and `instance` (read before reuse); without it the stale
 * node pointer carves a node where the label is (refused: no room). */
struct client {
  void *data;           /* free: the next free client */
  pool_t *pool;
  struct node *first;
  int fd;
  unsigned instance : 1; /* toggled at each reuse (nginx's rev->instance) */
#ifdef STALE_BUFFER
  char *buf;             /* a closed client's: its freed (unmapped) buffer; a live one's: textbuf */
#endif
};
struct server {
  struct client *clients;
  struct client *free_clients;
  unsigned nfree;
};
static struct server srv;
#ifndef NO_FREE_LIST
TTST_FREE_LIST(struct server.free_clients, data);
#endif

/* Spare entries of a free list held by a global, linked by `void *link`, carved in
 * a client's pool block: FREE_LIST(spares, link) types each (the `void *` links
 * would not), and their stale `was` (pointing at a label string) carves nothing. */
struct spare {
  void *link;
  struct node *was;     /* stale: where a node was, now a label */
  char tag[8];
};
static struct spare *spares;
static char *textbuf;   /* a block a free client's stale `pool` points to (by type: no container) */
#ifndef NO_FREE_LIST
TTST_FREE_LIST(spares, link);
#endif

static pool_t *pool_block(void) {
  pool_t *p = malloc(POOL_BLOCK);
  p->last = (char *)(p + 1), p->end = (char *)p + POOL_BLOCK, p->next = 0, p->failed = 0;
  return p;
}

static void *palloc(size_t n) {
  n = (n + 7) & ~(size_t)7;
  pool_t *p = pool;
  while ((size_t)(p->end - p->last) < n) {
    if (!p->next) p->next = pool_block();
    p = p->next;
  }
  void *m = p->last;
  p->last += n;
  return m;
}

static void *cpalloc(pool_t *p, size_t n) {
  void *m = p->last;
  p->last += (n + 7) & ~(size_t)7;
  return m;
}
static struct client *client_open(int fd) {
  struct client *c = srv.free_clients;
  srv.free_clients = c->data, --srv.nfree;
  c->data = 0, c->fd = fd, c->instance = !c->instance, c->pool = pool_block(), c->first = 0;
  return c;
}
static void client_close(struct client *c) {
  free(c->pool);  /* c->pool and c->first stay as they were: stale */
#ifdef STALE_BUFFER
  free(c->buf);   /* and c->buf: a block above glibc's mmap threshold, unmapped now */
#endif
  c->fd = -1, c->data = srv.free_clients, srv.free_clients = c, ++srv.nfree;
}
static struct node *client_node(struct client *c, pool_t *p, long value) {
  struct node *nd;
  char *label = cpalloc(p, 8);
  snprintf(label, 8, "c%ld", value);
  nd = cpalloc(p, sizeof *nd);
  nd->value = value, nd->label = label, nd->next = c->first, c->first = nd;
  return nd;
}

/* A zmalloc-style header wrapper: the size before the object (BUILD declares
 * HEADER_WRAPPER(zmalloc, 8); kept out of line as in its own .c file). */
__attribute__((noinline)) static void *zmalloc(size_t n) {
  size_t *p = malloc(n + sizeof(size_t));
  *p = n;
  return p + 1;
}
static size_t zmalloc_size(void *ptr) { return ((size_t *)ptr)[-1]; }
struct session {
  struct session *next;
  item *last;           /* an item in a slab page */
  char *name;           /* a zmalloc'd string: reached by char *, stays an untyped block */
};
static struct session *sessions;

static char key[32], value[300];
static int check_items(int from, int to, int step) {
  int ok = 0;
  for (int i = from; i < to; i += step) {
    snprintf(key, sizeof key, "key-%d", i);
    int n = snprintf(value, sizeof value, "value-%d-%0*d", i, i % 150, 7);
    item *it = item_get(key);
    ok += it && it->nbytes == n && memcmp(ITEM_data(it), value, n) == 0;
  }
  return ok;
}

/* This process's own start-up answer to "was my state just transferred in?",
 * never the old version's: a local set before the loop is state the transfer
 * carries (the old version's 0) whenever the old version's frame holds it. */
static int transferred;
TTST_NO_TRANSFER(transferred);

int main(void) {
  unsigned sizes[CLASSES + 1] = {0, 64, 128, 256};
  for (unsigned id = 1; id <= CLASSES; ++id) slabclass[id].size = sizes[id], slabclass[id].perslab = PAGE / sizes[id];
  if (!ttst_is_updating()) {
    hashtable = calloc(64, sizeof(item *));
    for (int i = 0; i < 90; ++i) {
      snprintf(key, sizeof key, "key-%d", i);
      int n = snprintf(value, sizeof value, "value-%d-%0*d", i, i % 150, 7);
      item_new(key, value, n);
    }
    for (int i = 0; i < 90; i += 5) item_unlink(item_get((snprintf(key, sizeof key, "key-%d", i), key)));
    item *bin = item_new("binary", "", 16);  /* a value holding an address: data, not a pointer */
    memcpy(ITEM_data(bin), &bin, 8), memcpy(ITEM_data(bin) + 8, &hashtable, 8);
    cursor = ITEM_data(item_get("key-7")) + 3;
    item *half = slabs_alloc(2);
    half->slabs_clsid = 2, half->nkey = 7, half->nbytes = 60, half->next = half->prev = half->h_next = 0;
    memcpy(ITEM_key(half), "pending", 8), memcpy(ITEM_data(half), "valu", 4);
    reading.item = half, reading.ritem = ITEM_data(half) + 4, reading.rlbytes = 56;
    pool = pool_block();
    for (long i = 0; i < 30; ++i) {
      struct node *nd = palloc(sizeof *nd);
      nd->value = i * i, nd->next = nodes, nodes = nd;
      nd->label = palloc(8);
      snprintf(nd->label, 8, "n%ld", i);
    }
#ifdef TAIL_POINTER
    void **slot = palloc(sizeof(void *));
    *slot = nodes;
    stash = slot;
#endif
    for (int i = 0; i < 5; ++i) {
      struct session *s = zmalloc(sizeof *s);
      s->next = sessions, sessions = s;
      s->last = item_get((snprintf(key, sizeof key, "key-%d", 3 + i), key));
      s->name = zmalloc(8);
      snprintf(s->name, 8, "s%d", i);
    }
#ifdef CYCLE_POOL
    pool_t *own = pool_block();
    cycle = (struct cycle *)own->last;
    own->last += sizeof(struct cycle);
    cycle->pool = own, cycle->log.level = 7, cycle->log.next = 0, cycle->logp = &cycle->log, cycle->generation = 42;
#endif
    srv.clients = calloc(4, sizeof(struct client));
    for (int k = 3; k >= 0; --k)
      srv.clients[k].fd = -1, srv.clients[k].data = srv.free_clients, srv.free_clients = &srv.clients[k], ++srv.nfree;
    struct client *a = client_open(10), *b = client_open(11), *d = client_open(13);
#ifdef STALE_BUFFER
    a->buf = malloc(1 << 20), b->buf = d->buf = 0;
#endif
    cpalloc(a->pool, 8), a->first = cpalloc(a->pool, sizeof(struct node));  /* a's node at +40 of its block */
    client_node(b, b->pool, 1);
    client_close(a);                       /* a's block freed ... */
    b->pool->next = pool_block();          /* ... and reused as b's second block */
    cpalloc(b->pool->next, 8);             /* 8 bytes, then a label at +40 and a node at +48: */
    client_node(b, b->pool->next, 2);      /* a's stale `first` (+40) points at the label */
    client_close(d);                       /* clients[2]: the free list's head (inside the table), then a */
    textbuf = malloc(POOL_BLOCK);          /* d's stale pool_t * points here: no pool */
    strcpy(textbuf, "text of a reused block");
#ifdef STALE_BUFFER
    b->buf = textbuf;
#endif
    struct spare *sp[3];                   /* three spares after b's first node: s1 -> s2 -> s3 */
    for (int k = 0; k < 3; ++k) {
      sp[k] = cpalloc(b->pool, sizeof *sp[k]);
      snprintf(sp[k]->tag, sizeof sp[k]->tag, "s%d", k + 1);
      sp[k]->was = (struct node *)b->first->next->label;  /* b's first node's label (+32) */
    }
    for (int k = 2; k >= 0; --k) sp[k]->link = spares, spares = sp[k];
    char *reply = malloc(256);  /* a reply buffer the iovecs pointed into, freed last */
    reading.iovsize = 8, reading.iov = calloc(8, sizeof(struct iovec));
    for (int i = 0; i < 6; ++i) reading.iov[i].iov_base = reply + 16 * i, reading.iov[i].iov_len = 16;
    reading.wcurr = reply + 8;
    free(reply);
    reading.iovused = 2;  /* the next reply: two entries rewritten, four stale ones after them */
    reading.iov[0].iov_base = ITEM_data(item_get("key-9")), reading.iov[1].iov_base = reading.ritem;
    printf("ready\n");
    fflush(stdout);
  }
  transferred = ttst_is_updating();
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      int items = check_items(0, 90, 1), kept = 90 - 18;
      item *bin = item_get("binary");
      int binary = bin && memcmp(ITEM_data(bin), &bin, 8) != 0;  /* P's address, carried as bytes */
      long sum = 0;
      int count = 0, labels = 0;
      for (struct node *nd = nodes; nd; nd = nd->next, ++count) {
        sum += nd->value;
        labels += nd->label[0] == 'n';
      }
      for (int i = 100; i < 160; ++i) {  /* new items: free slots first, then page tails */
        snprintf(key, sizeof key, "key-%d", i);
        int n = snprintf(value, sizeof value, "value-%d-%0*d", i, i % 150, 7);
        item_new(key, value, n);
      }
      int sessions_ok = 0, n = 5;
      for (struct session *s = sessions; s; s = s->next) {
        --n;
        snprintf(key, sizeof key, "key-%d", 3 + n);
        sessions_ok += zmalloc_size(s) == sizeof *s && s->last == item_get(key) && zmalloc_size(s->name) == 8 &&
                       s->name[0] == 's' && s->name[1] == '0' + n;
      }
      item *half = reading.item;
      int pending = half && half->nbytes == 60 && memcmp(ITEM_key(half), "pending", 8) == 0 &&
                    memcmp(ITEM_data(half), "valu", 4) == 0 && reading.ritem == ITEM_data(half) + 4;
      int iov = reading.iovused == 2 && reading.iov[0].iov_base == ITEM_data(item_get("key-9")) &&
                reading.iov[1].iov_base == reading.ritem && reading.iov[2].iov_base == 0 && reading.iov[5].iov_len == 0;
      printf("items:%d/%d binary:%d cursor:%d pending:%d iov:%d dead:%d nodes:%d sum:%ld labels:%d sessions:%d after_new:%d,%d",
             items, kept, binary, cursor == ITEM_data(item_get("key-7")) + 3, pending, iov, reading.wcurr != 0,
             count, sum, labels, sessions_ok, check_items(1, 90, 5), check_items(100, 160, 1));
      struct client *cl = srv.clients, *b = &cl[1];
      int free_list = srv.free_clients == &cl[2] && cl[2].data == &cl[0] && cl[0].data == &cl[3] && !cl[3].data &&
                      srv.nfree == 3 && cl[0].instance == 1 && cl[2].instance == 1 && cl[3].instance == 0 &&
                      b->instance == 1 && !strcmp(textbuf, "text of a reused block");
      int b_ok = b->fd == 11 && b->first && b->first->value == 2 && !strcmp(b->first->label, "c2") &&
                 b->first->next && b->first->next->value == 1 && !strcmp(b->first->next->label, "c1");
#ifdef STALE_BUFFER
      b_ok = b_ok && b->buf == textbuf;
#endif
      struct spare *s1 = spares, *s2 = s1 ? s1->link : 0, *s3 = s2 ? s2->link : 0;
      int spare_ok = s1 && s2 && s3 && !s3->link && !strcmp(s1->tag, "s1") && !strcmp(s2->tag, "s2") &&
                     !strcmp(s3->tag, "s3") && (char *)s2 == (char *)s1 + sizeof *s1;
      struct client *again = client_open(12);  /* reused: d's entry, its instance toggled back */
      printf(" clients:%d,%d,%d,%d", free_list, b_ok, again == &cl[2] && again->instance == 0 && srv.free_clients == &cl[0],
             spare_ok);
#ifdef CYCLE_POOL
      printf(" cycle:%d", cycle->generation == 42 && (pool_t *)cycle == cycle->pool + 1 && cycle->logp == &cycle->log &&
                              cycle->logp->level == 7 && cycle->pool->last == (char *)(cycle + 1));
#endif
      printf("\n");
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
