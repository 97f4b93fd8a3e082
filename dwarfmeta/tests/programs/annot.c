/* A program carrying one annotation record of every kind and two update points,
 * emitted with top-level asm exactly as stfw/abi/ttst_abi.h lays them out. */
#include <stdlib.h>

struct conn {
  int fd;
  void *data;
};

struct conn conns[4];
char blob[16];
int counter;
char __ttst_runtime[8]; /* stands for the runtime's control block (symbol only) */

asm(".pushsection .ttst.annot,\"\",@progbits\n"
    ".byte 0x54,1,1\n.asciz \"annot.c\"\n.asciz \"blob\"\n.asciz \"\"\n"
    ".byte 0x54,1,2\n.asciz \"annot.c\"\n.asciz \"struct conn.data\"\n.asciz \"\"\n"
    ".byte 0x54,1,3\n.asciz \"annot.c\"\n.asciz \"counter\"\n.asciz \"old_counter\"\n"
    ".byte 0x54,1,4\n.asciz \"annot.c\"\n.asciz \"loop::ticks\"\n.asciz \"\"\n"
    ".byte 0x54,1,5\n.asciz \"annot.c\"\n.asciz \"my_alloc\"\n.asciz \"size=1\"\n"
    ".byte 0x54,1,6\n.asciz \"annot.c\"\n.asciz \"my_free\"\n.asciz \"ptr=1\"\n"
    ".popsection");

#define UPDATE_POINT() \
  asm volatile("1: nop\n.pushsection .ttst.upoints,\"\",@progbits\n.quad 1b\n.popsection")

__attribute__((noinline)) void *my_alloc(size_t n) { return malloc(n); }
__attribute__((noinline)) void my_free(void *p) { free(p); }

__attribute__((noinline)) int loop(int n) {
  static int ticks;
  for (int i = 0; i < n; ++i) {
    UPDATE_POINT();
    ticks++;
  }
  return ticks;
}

int main(int argc, char **argv) {
  (void)argv;
  UPDATE_POINT();
  conns[0].data = my_alloc(8);
  my_free(conns[0].data);
  counter = loop(argc);
  return blob[0];
}
