/* File-static and function-static variables with the same names as in
 * statics_b.c: their state IDs must differ. */
static int counter = 1;
static int tick(void) {
  static int calls;
  return ++calls + counter;
}
int shared_total;
int run_a(void) {
  static int runs;
  runs++;
  return tick() + runs;
}
/* A struct tag with another definition in statics_b.c. */
struct config {
  int a;
} *cfg_a;
