/* libsym.c, version 1 — pointers into a shared library (libm: two functions and a
 * variable of its own) for stfw/tests/library_symbol_test.cc, which upgrades the
 * library file on disk between this version's start and the next one's, so the
 * pointers can only be carried over by symbol name (cos and sin are IFUNCs: the
 * loader picked an implementation no exported symbol names), and &stdout, which
 * points to the executable's copy of libc's variable. Argument "nosym": also a
 * pointer to a place in libm that no symbol covers (its ELF header); "stderr":
 * &stderr, a copy version 2 does not have. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ttst.h"

double (*trig)(double);
double (*trig2)(double);
int *libm_sign;          /* libm's own signgam (the program's is a copy) */
const void *raw;
FILE **stream;           /* &stdout: libc's variable, copied into the executable */

int main(int argc, char **argv) {
  trig = cos, trig2 = sin;
  stream = &stdout;
  libm_sign = dlsym(dlopen("libm.so.6", RTLD_NOW | RTLD_NOLOAD), "signgam");
  if (argc > 1 && !strcmp(argv[1], "stderr")) stream = &stderr; /* v2 never imports stderr */
  if (argc > 1 && !strcmp(argv[1], "nosym")) {
    Dl_info info;
    dladdr((void *)cos, &info);
    raw = (const char *)info.dli_fbase + 16;
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    TTST_UPDATE_POINT();
    usleep(20000);
  }
}
