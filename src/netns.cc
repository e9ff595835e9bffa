#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tuntap {

NetnsGuard::NetnsGuard(const char* path) {
  if (path == nullptr || path[0] == '\0') return;
  int home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    error_ = errno;
    syscall_ = "open(/proc/thread-self/ns/net)";
    return;
  }
  int target = ::open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    error_ = errno;
    syscall_ = "open(netns)";
    ::close(home);
    return;
  }
  // CLONE_NEWNET makes the kernel check that target is a network namespace
  // (EINVAL otherwise) rather than entering whatever namespace it is.
  if (::setns(target, CLONE_NEWNET) < 0) {
    error_ = errno;
    syscall_ = "setns";
    ::close(target);
    ::close(home);
    return;
  }
  ::close(target);
  home_ = home;
}

NetnsGuard::~NetnsGuard() {
  if (home_ < 0) return;
  if (::setns(home_, CLONE_NEWNET) < 0) {
    std::fprintf(stderr,
                 "tuntap: FATAL: could not return this thread to its network namespace "
                 "(setns: %s); aborting rather than running on in the wrong one\n",
                 std::strerror(errno));
    std::abort();
  }
  ::close(home_);
}

}  // namespace tuntap
