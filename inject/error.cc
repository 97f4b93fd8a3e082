// error.cc — see error.h.
#include "inject/error.h"

#include <cerrno>
#include <cstring>

namespace ttst::inject {

void throw_errno(const std::string& what) {
  int e = errno;
  if (e == ESRCH) throw TraceeDied(what + ": " + std::strerror(e));
  throw InjectError(what + ": " + std::strerror(e));
}

}  // namespace ttst::inject
