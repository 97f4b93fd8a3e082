// epoll_rebuild.h — pointers the kernel holds for the program: the data word of
// each epoll registration (UNTRUSTED, runs inside the agent, forward only).
//
// The future version inherits the past version's epoll instances: the same open
// files, shared with P. A program that registers `epoll_event.data.ptr` (most
// event loops) has P's object addresses stored in the kernel, which the memory
// transfer cannot see; F would receive them from epoll_wait and follow them into
// nothing. Changing the shared instance would change P (the past version is never
// modified), so F gets new instances of its own: same registered descriptors and
// events, data translated by the transfer, installed over the inherited descriptor
// numbers in F's own descriptor table. P's instances are untouched; if the update
// rolls back, F's die with F.
#ifndef TTST_STFW_XFER_EPOLL_REBUILD_H
#define TTST_STFW_XFER_EPOLL_REBUILD_H

#include <stdint.h>

namespace ttst::stfw {

struct EpollRegistration {
  int epfd;         // the epoll instance's descriptor in this process
  int tfd;          // the registered descriptor
  uint32_t events;  // as registered (EPOLLIN, EPOLLET, ...)
  uint32_t cloexec; // the epoll descriptor's close-on-exec flag
  uint64_t data;
  uint64_t ino, sdev;  // the registered file (fdinfo "ino:" and "sdev:", kernel dev_t)
};

// Every registration of every epoll instance open in this process (from
// /proc/self/fd and /proc/self/fdinfo). Returns the count, or -errno: -kENOMEM
// (proc_maps.h) when out of memory, else the errno of opening one of those files
// (-kEMFILE: no free descriptor).
int64_t list_epoll_registrations(EpollRegistration** out);

// For each epoll descriptor with at least one registration whose data changed
// (`data[i]` != regs[i].data): a new instance with the same registrations and the
// new data, installed over the descriptor number. Every registered descriptor must
// still be the registered file (a registration outlives a closed descriptor whose
// file stays open through a dup; its number may now name another file): else
// nothing is rebuilt and *stale_tfd names it. Returns 0, or a negative errno
// (-EBADF for a stale one) with `*failed_fd` the epoll descriptor.
long rebuild_epoll_instances(const EpollRegistration* regs, const uint64_t* data, int64_t count, int* failed_fd,
                             int* stale_tfd);

}  // namespace ttst::stfw

#endif
