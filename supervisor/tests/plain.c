/* plain.c — a program NOT built with ttst-cc (gcc -g only): ttst-supervise must
 * refuse to update it. Prints "READY" and sleeps until killed. */
#include <stdio.h>
#include <unistd.h>
int main(void) {
  printf("READY\n");
  fflush(stdout);
  for (;;) pause();
}
