/* Version 2 of sem_v1.c. */
#include <stdint.h>
asm(".pushsection .ttst.annot,\"\",@progbits\n"
    ".byte 0x54,1,3\n.asciz \"sem_v2.c\"\n.asciz \"new_name\"\n.asciz \"old_name\"\n"
    ".byte 0x54,1,1\n.asciz \"sem_v2.c\"\n.asciz \"cookie\"\n.asciz \"\"\n"
    ".byte 0x54,1,4\n.asciz \"sem_v2.c\"\n.asciz \"kept_out\"\n.asciz \"\"\n"
    ".byte 0x54,1,2\n.asciz \"sem_v2.c\"\n.asciz \"struct holder.h\"\n.asciz \"\"\n"
    ".popsection");
int to_int;
long p2i;
union tagged {
  long i;
  char *s;
} tagged;
enum err { E_OK = 0, E_FAIL = 2, E_NEW = 3 } last_err;
float ratio;
int kept;
int new_name;
int fresh;
int flags_bits;
struct bf {
  unsigned a : 5;
  unsigned b : 4;
} bf;
intptr_t cookie;
struct item {
  struct item *next;
  union {
    long n;
    void *p;
  } v;
} *items;
struct blob {
  int len;
  char data[8];
} *blob_ref;
int kept_out;
struct holder {
  long h;
} holder;
int main(void) {
  return (int)(to_int + p2i + tagged.i + last_err + (int)ratio + kept + new_name + fresh + flags_bits + bf.a +
               cookie + (items != 0) + (blob_ref != 0) + kept_out + holder.h);
}
