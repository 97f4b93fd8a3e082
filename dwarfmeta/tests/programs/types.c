/* Every type kind dwarfmeta models, each reachable from a global, plus static,
 * function-static, thread-local and const globals. Used by dwarfmeta/tests. */
#include <stdlib.h>
#include <string.h>

#include "types.h"

struct everything every;
struct node *list_head;
struct packet *packet;
struct zl zero_len;
static int file_counter = 3;
__thread int tls_value;
const int table[4] = {1, 2, 3, 4};
handler_fn handlers[2];
char message[] = "hello";

static int on_event(int x, const char *s) { return x + (int)strlen(s); }
/* Const, but holding a relocated pointer: RELRO data in a PIE (read-only once
 * loaded), .rodata otherwise. */
const handler_fn relro_handlers[2] = {on_event, 0};

int first(void) {
  static int calls;
  return ++calls + file_counter;
}

int second(void) {
  static int calls;
  static struct node cache;
  cache.key = calls;
  return ++calls;
}

static inline int bump(void) {
  static int hits;
  return ++hits;
}

int main(void) {
  handlers[0] = on_event;
  list_head = malloc(sizeof *list_head);
  packet = calloc(1, sizeof *packet + 8);
  every.name = strdup("every");
  tls_value = first() + second() + bump();
  return handlers[0](tls_value, every.name) + table[1] + zero_len.n + message[0] > 1000;
}
