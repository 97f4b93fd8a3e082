/* util.c — part of the static library of the configure-style test project. */
#include <stdlib.h>
#include <string.h>
#include "config.h"
char *util_copy(const char *s) {
#ifdef HAVE_STRDUP
  return strdup(s);
#else
  char *p = malloc(strlen(s) + 1);
  return p ? strcpy(p, s) : p;
#endif
}
