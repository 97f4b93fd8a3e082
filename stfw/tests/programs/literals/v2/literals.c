/* literals.c, version 2 — see v1: the same table, with literals of its own placed
 * before it (a usage text holding every name as a tail, a new command), so every
 * literal lies at another address than in v1. After its state is transferred it
 * prints each name and whether the pointers inside strings still point inside the
 * names they pointed into in v1 (positions kept, not only bytes). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

struct command {
  const char *name;
  int arity;
};

const char *usage[] = {"xhincrby", "zgetset", "hsetnx"};
struct command commands[] = {
    {"hincrby", 4}, {"incrby", 3}, {"hset", 4}, {"getset", 3}, {"set", 3},
};
const char *tails[2];
extern const char *aliases[3];
void fill_aliases(void);

int main(void) {
  int transferred = ttst_is_updating();
  if (!transferred) fill_aliases();
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      for (int i = 0; i < 5; ++i) printf("%s ", commands[i].name);
      printf("| %s %s %s |", aliases[0], aliases[1], aliases[2]);
      printf(" inside:%d,%d\n", tails[0] == commands[0].name + 1, tails[1] == commands[3].name + 3);
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
