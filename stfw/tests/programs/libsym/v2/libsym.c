/* libsym.c, version 2 — see v1: after its state is transferred it prints whether
 * each pointer is this process's own libm function or variable. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "ttst.h"

double (*trig)(double);
double (*trig2)(double);
int *libm_sign;
const void *raw;
FILE **stream;

int main(void) {
  int transferred = ttst_is_updating();
  for (;;) {
    TTST_UPDATE_POINT();
    if (transferred) {
      int *sign = dlsym(dlopen("libm.so.6", RTLD_NOW | RTLD_NOLOAD), "signgam");
      printf("cos:%d sin:%d signgam:%d stream:%d\n", trig == cos, trig2 == sin, libm_sign == sign && sign != NULL,
             stream == &stdout);
      fflush(stdout);
      transferred = 0;
    }
    usleep(20000);
  }
}
