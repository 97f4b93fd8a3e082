/* main.c — an ordinary program that knows nothing of ttst (no ttst.h). */
#include <stdio.h>
#include <stdlib.h>
#include "config.h"
char *util_copy(const char *s);
char *plugin_greeting(void);
int main(void) {
  char *a = util_copy("configured");
  char *b = plugin_greeting();
#ifdef HAVE_XYZ
  puts("wrong: a nonexistent function was found");
#endif
  printf("%s, %s\n", a, b);
  free(a);
  free(b);
  return 0;
}
