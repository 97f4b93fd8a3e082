/* Version 1 of a pair whose update exercises every plan classification. */
#include <stdint.h>
struct cfg {
  int a;
};
struct cfg to_int;                               /* v2: int             semantic */
void *p2i;                                       /* v2: long            semantic */
union tagged {
  int i;
  char *s;
} tagged;                                        /* v2: int i -> long i semantic */
enum err { E_OK = 0, E_FAIL = 1, E_GONE = 2 } last_err; /* renumber + drop  */
int ratio;                                       /* v2: float           semantic */
int kept;                                        /* unchanged */
int old_name;                                    /* v2: new_name (RENAMED_FROM) */
int gone;                                        /* dropped */
unsigned flags_bits;                             /* v2: int             sign-changed */
struct bf {
  unsigned a : 3;
  unsigned b : 4;
} bf;                                            /* a widened, b moved */
intptr_t cookie;                                 /* ambiguous */
struct item {
  struct item *next;
  union {
    long n;
    void *p;
  } v;
} *items;                                        /* ambiguous through a pointer */
char *blob_ref;                                  /* v2: struct blob *   semantic (retargeted) */
struct cfg kept_out;                             /* v2: int, NO_TRANSFER: no user code */
struct holder {
  void *h;                                       /* v2: long, PXFER on the member: no user code */
} holder;
int main(void) {
  return (int)(to_int.a + (long)p2i + tagged.i + last_err + ratio + kept + old_name + gone + (int)flags_bits +
               bf.a + cookie + (items != 0) + (blob_ref != 0) + kept_out.a + (holder.h != 0));
}
