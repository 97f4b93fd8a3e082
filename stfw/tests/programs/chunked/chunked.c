/* chunked — memcached 1.6's chunked items in small (stfw/tests/carve_xfer_test.cc).
 * Items are carved out of slab pages (TTST_SLAB_N in BUILD). A value too large for
 * one chunk is stored as a header item flagged CHUNKED whose data bytes, after the
 * key, its NUL, the optional 4-byte client flags (CFLAGS) and the optional 8-byte CAS
 * (CAS), hold a `struct item_chunk`: its `next` leads to chunk items in pages of the
 * large class (each chunk's `head` back to the header, the first chunk's `prev` to
 * the embedded chunk). Nothing typed reaches the chunks but that embedded struct.
 * BUILD declares it (TTST_EMBEDDED(item.data, item_chunk, it_flags:32, nkey, 1,
 * it_flags:256:4, it_flags:2:8)): the chunks are carved and their pointers
 * translated. Without it (_noembed) the embedded pointers are data bytes: the
 * chunks are not state and v2 would read P's addresses; that is refused (the word
 * points at the start of a container chunk no sub-object holds).
 * After the update v2 walks each big value's chunks and prints what it reads.
 * -DNOTE adds a heap `struct note` whose char array keeps the address of a memo
 * block nothing else points to: a pointer in data bytes, refused (before, committed:
 * v2 then read the memo at P's address). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

#define ITEM_CAS 2
#define ITEM_CHUNKED 32
#define ITEM_CHUNK 64
#define ITEM_CFLAGS 256

typedef struct _stritem {
  struct _stritem *next, *prev, *h_next;
  int nbytes;
  unsigned short refcount;
  uint16_t it_flags;
  uint8_t slabs_clsid, nkey;
  union {
    uint64_t cas;
    char end;
  } data[];
} item;

typedef struct _strchunk {
  struct _strchunk *next, *prev;
  struct _stritem *head;
  int size, used;
  unsigned short refcount;
  uint16_t it_flags;
  uint8_t slabs_clsid, orig_clsid;
  char data[];
} item_chunk;

typedef struct {
  unsigned int size;
  unsigned int perslab;
  void **slab_list;
  unsigned int slabs;
  unsigned int used; /* chunks handed out from the last page */
} slabclass_t;

#define PAGE 8192
static slabclass_t slabclass[2] = {{256, PAGE / 256, 0, 0, 0}, {1024, PAGE / 1024, 0, 0, 0}};
item *items; /* every header item, linked by next (an LRU) */
long served;
#ifdef NOTE
struct note {
  struct note *next;
  char text[24]; /* bytes 8..15: the memo's address, kept as data */
} *notes;
#endif
#ifdef V2
long v2_reads; /* v2 adds a global */
#endif

static void *slab_alloc(int id) {
  slabclass_t *p = &slabclass[id];
  if (p->slabs == 0 || p->used == p->perslab) {
    p->slab_list = realloc(p->slab_list, (p->slabs + 1) * sizeof(void *));
    p->slab_list[p->slabs++] = calloc(1, PAGE);
    p->used = 0;
  }
  return (char *)p->slab_list[p->slabs - 1] + p->size * p->used++;
}

static char *schunk(item *it) {
  return (char *)it->data + it->nkey + 1 + ((it->it_flags & ITEM_CFLAGS) ? 4 : 0) + ((it->it_flags & ITEM_CAS) ? 8 : 0);
}

/* A header item for key with `value` spread over chunks of at most `per` bytes. */
static item *store(const char *key, uint16_t flags, const char *value, int per) {
  item *it = slab_alloc(0);
  it->it_flags = flags | ITEM_CHUNKED, it->nkey = (uint8_t)strlen(key), it->refcount = 1;
  it->nbytes = (int)strlen(value);
  char *k = (char *)it->data + ((flags & ITEM_CAS) ? 8 : 0);
  if (flags & ITEM_CAS) it->data[0].cas = 77;
  memcpy(k, key, it->nkey + 1);
  if (flags & ITEM_CFLAGS) memcpy(k + it->nkey + 1, "\x05\0\0\0", 4);
  item_chunk *ch = (item_chunk *)schunk(it);
  memset(ch, 0, sizeof *ch);
  ch->head = it;
  for (const char *v = value; *v;) {
    item_chunk *n = slab_alloc(1);
    n->head = it, n->prev = ch, n->it_flags = ITEM_CHUNK, n->slabs_clsid = 1, n->refcount = 1;
    n->size = (int)(slabclass[1].size - sizeof *n);
    n->used = (int)strlen(v) < per ? (int)strlen(v) : per;
    memcpy(n->data, v, n->used), v += n->used;
    ch->next = n, ch = n;
  }
  it->next = items, items = it;
  return it;
}

/* This process's own start-up answer to "was my state just transferred in?",
 * never the old version's: a local set before the loop is state the transfer
 * carries (the old version's 0) whenever the old version's frame holds it. */
static int transferred;
TTST_NO_TRANSFER(transferred);

int main(void) {
  transferred = ttst_is_updating();
  if (!transferred) {
    store("alpha", ITEM_CAS | ITEM_CFLAGS, "the quick brown fox jumps over the lazy dog", 10);
    store("be", 0, "0123456789abcdefghij", 7);
    store("gamma", ITEM_CAS, "lorem ipsum dolor sit amet", 5);
    served = 3;
#ifdef NOTE
    char *memo = malloc(32);
    strcpy(memo, "remember the milk");
    notes = calloc(1, sizeof *notes);
    memcpy(notes->text + 8, &memo, sizeof memo);
#endif
    printf("ready\n");
    fflush(stdout);
  }
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      for (item *it = items; it; it = it->next) {
        item_chunk *first = (item_chunk *)schunk(it);
        char value[256];
        int n = 0, heads = 1, links = 1, chunks = 0;
        for (item_chunk *ch = first->next, *prev = first; ch && n + ch->used < 256; prev = ch, ch = ch->next) {
          memcpy(value + n, ch->data, ch->used), n += ch->used, chunks++;
          heads &= ch->head == it, links &= ch->prev == prev;
        }
        value[n] = 0;
        printf("%s=%s chunks:%d heads:%d links:%d;", (char *)it->data + ((it->it_flags & ITEM_CAS) ? 8 : 0), value,
               chunks, heads, links);
      }
#ifdef V2
      v2_reads++;
#endif
      printf(" served:%ld", served);
#ifdef NOTE
      char *memo;
      memcpy(&memo, notes->text + 8, sizeof memo);
      printf(" memo:%.17s", memo);
#endif
      printf("\n");
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
