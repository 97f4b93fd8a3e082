/* See statics_a.c. */
static int counter = 2;
static int tick(void) {
  static int calls;
  return ++calls + counter;
}
struct config {
  double x, y;
} *cfg_b;
int run_a(void);
int main(void) { return run_a() + tick() > 100; }
