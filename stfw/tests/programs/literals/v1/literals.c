/* literals.c, version 1 — a command table whose names share suffixes, for
 * stfw/tests/literal_roundtrip_test.cc. The longer names come first, so the first
 * place the bytes "incrby\0" occur is inside "hincrby" and "set\0" inside "hset":
 * a transfer that maps a literal to the first occurrence of its bytes sends
 * commands[1].name ("incrby") into "hincrby" and the round trip is not exact.
 * Pointers inside strings too: tails[] point at "incrby" within "hincrby" and at
 * "set" within "getset". */
#include <stdio.h>
#include <unistd.h>

#include "ttst.h"

struct command {
  const char *name;
  int arity;
};

struct command commands[] = {
    {"hincrby", 4}, {"incrby", 3}, {"hset", 4}, {"getset", 3}, {"set", 3},
};
const char *tails[2];
void fill_aliases(void);

int main(void) {
  tails[0] = commands[0].name + 1; /* "incrby" inside "hincrby" */
  tails[1] = commands[3].name + 3; /* "set" inside "getset" */
  fill_aliases();
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    TTST_UPDATE_POINT();
    usleep(20000);
  }
}
