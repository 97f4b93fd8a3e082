/* blockcall_thread.c — blockcall (blockcall.c) with its loop in a second thread:
 * the past-untouched matrix for a call blocked in a non-main thread
 * (thread_matrix_test.cc, issue 19). The main thread blocks every signal (so
 * signals sent to the process reach the loop's thread, as they reach blockcall's
 * main) and waits in pthread_join next to its own update point: quiescent by the
 * rule. The loop's thread runs blockcall's main unchanged (its update point and
 * its blocking call in one function), from loop_thread. The process ends with the
 * loop's status. Versions: -DV2 as blockcall's. */
#define main blockcall_main
#include "blockcall.c"
#undef main

#include <stdint.h>

static int loop_argc;
static char **loop_argv;
TTST_NO_TRANSFER(loop_argv); /* the process's argv array (on its first stack): v2 has its own, equal */

static void *loop_thread(void *arg) {
  (void)arg;
  return (void *)(intptr_t)blockcall_main(loop_argc, loop_argv);
}

int main(int argc, char **argv) {
  loop_argc = argc;
  loop_argv = argv;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL);
  pthread_t t;
  if (pthread_create(&t, NULL, loop_thread, NULL) != 0) return 2;
  for (;;) {
    TTST_UPDATE_POINT();
    void *status = NULL;
    pthread_join(t, &status);
    return (int)(intptr_t)status;
  }
}
