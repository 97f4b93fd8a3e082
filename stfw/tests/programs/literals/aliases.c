/* aliases.c — a second translation unit of the literals program (both versions):
 * its literals equal some of literals.c's, so at -O0 the executable holds two
 * whole strings "set" and two "incrby"; the transfer must map each pointer to its
 * own copy (the second "set" to the second), not to the first with those bytes. */
const char *aliases[3];

void fill_aliases(void) {
  aliases[0] = "set";
  aliases[1] = "incrby";
  aliases[2] = "hset";
}
