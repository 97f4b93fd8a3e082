/* Listing 2 of the TTST paper, version 2: struct s with id widened to int and
 * moved before str, str truncated to 2 chars, ptr dropped, inner_ptr now int *. */
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
  int id;
  char str[2];
  union u u;
  int addr;
  int *inner_ptr;
} var;

int ids[4];

void example_init(char *str) {
  snprintf(var.str, 2, "%s", str);
}

int main(int argc, char **argv) {
  example_init(argc > 1 ? argv[1] : "ab");
  var.id = 7;
  var.u.i = 42;
  var.addr = 0x1234;
  var.inner_ptr = &ids[1];
  int rounds = argc > 2 ? atoi(argv[2]) : -1;
  for (int n = 0; rounds < 0 || n < rounds; ++n) {
    var.count++;
    *var.inner_ptr = var.count;
    usleep(1000);
  }
  printf("%d %s\n", var.count, var.str);
  return 0;
}
