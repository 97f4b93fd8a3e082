/* realities.c — a small program with the process realities of a real server
 * (past_children.h, pending_signals.h). It counts SIGUSR1, SIGTERM and
 * SIGRTMIN+1 (and the value the last SIGRTMIN+1 carried) and prints the counts on
 * stdout, one line each time they change; it exits after printing once SIGTERM
 * has come. Started with an argument, it forks a child first:
 *   child   a child that runs until it is killed (a background job); SIGCHLD
 *           makes the program wait for it and print "v1 reaped PID status S"
 *   zombie  a child that exits at once (status 7) and is not waited for until
 *           SIGUSR2 (SIGCHLD left at its default: the zombie stays)
 * Built as version 1 and 2 (-DV=1/2). */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ttst.h"

volatile sig_atomic_t usr1_count, term_count, rt_count, rt_value, reap_asked;

static void on_signal(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  if (sig == SIGUSR1) usr1_count++;
  else if (sig == SIGTERM) term_count++;
  else if (sig == SIGUSR2 || sig == SIGCHLD) reap_asked = 1;
  else {
    rt_count++;
    rt_value = si->si_value.sival_int;
  }
}

static void say(const char *line) {
  if (write(1, line, strlen(line)) < 0) _exit(2);
}

static void start_child(const char *mode) {
  pid_t c = fork();
  if (c == 0) {
    if (strcmp(mode, "zombie") == 0) _exit(7);
    for (;;) pause();
  }
  char line[64];
  snprintf(line, sizeof line, "v%d child %d\n", V, (int)c);
  say(line);
}

static void reap(void) {
  int status;
  pid_t c;
  reap_asked = 0;
  while ((c = waitpid(-1, &status, WNOHANG)) > 0) {
    char line[64];
    snprintf(line, sizeof line, "v%d reaped %d status %d\n", V, (int)c, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    say(line);
  }
}

int main(int argc, char **argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO;
  int sigs[] = {SIGUSR1, SIGUSR2, SIGTERM, SIGRTMIN + 1, SIGCHLD};
  int zombie = argc > 1 && strcmp(argv[1], "zombie") == 0;
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (!(zombie && sigs[i] == SIGCHLD)) sigaction(sigs[i], &sa, NULL);
  if (argc > 1 && V == 1) start_child(argv[1]); /* v2 starts as F with v1's arguments */
  say("ready\n");
  int shown = 0;
  /* The counted signals are taken only inside the wait (ppoll unblocks them
   * atomically): one arriving after the counts were read and before the wait would
   * otherwise be counted with nobody printing it until the next one. */
  sigset_t counted, none;
  sigemptyset(&counted);
  sigemptyset(&none);
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&counted, sigs[i]);
  sigprocmask(SIG_BLOCK, &counted, NULL);
  for (;;) {
    TTST_UPDATE_POINT();
    if (reap_asked) reap();
    int now = usr1_count + term_count + rt_count;
    if (now != shown) {
      char line[96];
      snprintf(line, sizeof line, "v%d usr1=%d term=%d rt=%d value=%d\n", V, (int)usr1_count, (int)term_count,
               (int)rt_count, (int)rt_value);
      say(line);
      shown = now;
    }
    if (term_count) return 0;
    ppoll(NULL, 0, NULL, &none);
  }
}
