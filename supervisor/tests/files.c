/* files.c — a server whose start-up changes the file system as real servers' do,
 * with no ttst_is_updating(): it opens its log with fopen(path, "w") (truncating
 * it), writes its pid file, and builds its own epoll instance, pipe and socket pair (libevent's signal plumbing). Version 2's
 * start-up also removes a stale file, creates a state file, and appends a line to a
 * shared log opened with "a". Run in the directory DIR given as argv[1]. Once past
 * its update point, version 2 writes "v2 serving" to its log: the log it opened
 * during start-up must be the file at the path after the commit
 * (supervisor/startup_files.h). Built as files_v1, files_v2 and the variants
 * files_v2_crash (aborts after its start-up: a rollback), files_v2_daemon (forks
 * and exits in the parent, as daemon() does), files_v2_rename (renames the stale
 * file), files_v2_ftruncate (empties the shared log it appends to). Version 2 also
 * rewrites the first bytes of an existing file "data" ("r+"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ttst.h"

long turns; /* state carried over */

static FILE *open_in(const char *dir, const char *name, const char *mode) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, mode);
  if (!f) {
    perror(path);
    exit(1);
  }
  return f;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  const char *dir = argv[1];
#ifdef DAEMON
  if (fork() > 0) _exit(0); /* daemon()'s first step */
#endif
#if V == 2
  char stale[4096];
  snprintf(stale, sizeof stale, "%s/stale", dir);
#ifdef RENAME
  char renamed[4200];
  snprintf(renamed, sizeof renamed, "%s.old", stale);
  rename(stale, renamed);
#endif
  unlink(stale);
  /* For v2 the stale file is gone now, whether or not the unlink is made yet. */
  if (unlink(stale) == 0 || errno != ENOENT || open(stale, O_WRONLY) >= 0 || errno != ENOENT) {
    fprintf(stderr, "files v2: %s is still there after its unlink\n", stale);
    return 3;
  }
#endif
  FILE *log = open_in(dir, "app.log", "w");
  fprintf(log, "v%d started\n", V);
  char log_path[4096];
  struct stat st;
  snprintf(log_path, sizeof log_path, "%s/app.log", dir);
  if (stat(log_path, &st) == 0) chmod(log_path, st.st_mode & 07777); /* changes nothing: made */
  fflush(log);
  FILE *pid = open_in(dir, "app.pid", "w");
  fprintf(pid, "%d\n", (int)getpid());
  fclose(pid);
  int ep = epoll_create1(0), pipe_fds[2], pair[2];
  if (ep < 0 || pipe(pipe_fds) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) return 1;
  struct epoll_event e = {.events = EPOLLIN, .data.fd = pipe_fds[0]};
  epoll_ctl(ep, EPOLL_CTL_ADD, pipe_fds[0], &e);
#if V == 2
  fclose(open_in(dir, "v2.state", "w"));
  FILE *shared = open_in(dir, "shared.log", "a");
  fprintf(shared, "v2 appended\n");
#ifdef FTRUNCATE
  fflush(shared);
  if (ftruncate(fileno(shared), 0) != 0) return 1; /* would empty P's shared log: refused */
#endif
  fclose(shared);
  char id_tmp[4096], id[4096]; /* written under a temporary name, then renamed */
  snprintf(id_tmp, sizeof id_tmp, "%s/v2.id.tmp", dir);
  snprintf(id, sizeof id, "%s/v2.id", dir);
  FILE *idf = open_in(dir, "v2.id.tmp", "w");
  fprintf(idf, "v2\n");
  fclose(idf);
  if (rename(id_tmp, id) != 0) return 6;
  char lock[4096]; /* a file made and removed during start-up: never seen outside */
  snprintf(lock, sizeof lock, "%s/lock", dir);
  fclose(open_in(dir, "lock", "w"));
  if (unlink(lock) != 0) return 5;
  FILE *data = open_in(dir, "data", "r+"); /* rewrites the start of an existing file */
  fputs("AB", data);
  fclose(data);
#endif
#ifdef CRASH
  static volatile int crash = 1; /* not known to return: the loop and its update point stay */
  if (crash) abort();
#endif
  int said = 0;
  for (;;) {
    TTST_UPDATE_POINT();
    if (V == 2 && !said) {
      fprintf(log, "v2 serving\n");
      fflush(log);
      said = 1;
    }
    turns++;
    epoll_wait(ep, &e, 1, 2);
  }
}
