/* Listing 2 of the TTST paper, version 1: a global `var` of type struct s that
 * version 2 changes (str[3]->str[2], id short->int and moved, ptr dropped,
 * inner_ptr short*->int*). A real program: initialises var, then loops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

union u {
  int i;
  float f;
};

struct s {
  int count;
  char str[3];
  short id;
  union u u;
  void *ptr;
  int addr;
  short *inner_ptr;
} var;

short ids[4];

void example_init(char *str) {
  snprintf(var.str, 3, "%s", str);
}

int main(int argc, char **argv) {
  example_init(argc > 1 ? argv[1] : "ab");
  var.id = 7;
  var.u.i = 42;
  var.ptr = malloc(16);
  var.addr = 0x1234;
  var.inner_ptr = &ids[1];
  int rounds = argc > 2 ? atoi(argv[2]) : -1;
  for (int n = 0; rounds < 0 || n < rounds; ++n) {
    var.count++;
    *var.inner_ptr = (short)var.count;
    usleep(1000);
  }
  printf("%d %s\n", var.count, var.str);
  return 0;
}
