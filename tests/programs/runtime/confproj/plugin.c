/* plugin.c — a shared library of the test project: allocates from a library. */
#include <stdlib.h>
#include <string.h>
char *plugin_greeting(void) {
  char *p = malloc(32);
  if (p) strcpy(p, "hello from the plugin");
  return p;
}
