/* pollprog_twin.c — a second, unrelated static function named like pollprog's
 * poller, in its own file: a declaration naming epoll_process_events is then
 * ambiguous, and the poller rule must not use it. */
#include <unistd.h>

__attribute__((noinline)) static int epoll_process_events(int fd) { return (int)write(fd, "", 0); }

int twin_touch(int fd);
int twin_touch(int fd) { return epoll_process_events(fd); }
