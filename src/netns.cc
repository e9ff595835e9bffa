#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "errno_error.h"

namespace tuntap {
namespace {

// O_NONBLOCK: a FIFO (or any file whose open waits) given as a namespace
// would otherwise block the thread, and with it the event loop, until a
// writer comes; opened this way it fails at once in setns (EINVAL).
int OpenNamespaceFile(const char* path) {
  int fd;
  do {
    fd = ::open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

}  // namespace

NetnsGuard::NetnsGuard(const NetnsTarget& target) {
  if (!target.byFd && target.path.empty()) return;
  if (target.byFd && target.fd < 0) {
    error_ = EBADF;
    syscall_ = "setns";
    return;
  }
  int home = OpenNamespaceFile("/proc/thread-self/ns/net");
  if (home < 0) {
    error_ = errno;
    syscall_ = "open(/proc/thread-self/ns/net)";
    return;
  }
  int opened = -1;
  if (!target.byFd) {
    opened = OpenNamespaceFile(target.path.c_str());
    if (opened < 0) {
      error_ = errno;
      syscall_ = "open(netns)";
      ::close(home);
      return;
    }
  }
  // CLONE_NEWNET makes the kernel check that the file is a network namespace
  // (EINVAL otherwise: another namespace type, a FIFO, a regular file)
  // rather than entering whatever it is.
  int rc = ::setns(opened >= 0 ? opened : target.fd, CLONE_NEWNET);
  int err = errno;
  if (opened >= 0) ::close(opened);
  if (rc < 0) {
    error_ = err;
    syscall_ = "setns";
    ::close(home);
    return;
  }
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

Napi::Function NetnsFile::Init(Napi::Env env) {
  return DefineClass(env,
                     "NetnsFile",
                     {
                         InstanceAccessor<&NetnsFile::GetFd>("fd"),
                         InstanceMethod<&NetnsFile::Close>("close"),
                     });
}

NetnsFile::NetnsFile(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetnsFile>(info) {
  // A number: a namespace fd we own already (TUNGETDEVNETNS's), taken over as is.
  if (info[0].IsNumber()) {
    fd_ = info[0].As<Napi::Number>().Int32Value();
    return;
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  fd_ = OpenNamespaceFile(path.c_str());
  if (fd_ < 0) throw ErrnoError(info.Env(), errno, "open(netns)");
}

NetnsFile::~NetnsFile() {
  if (fd_ >= 0) ::close(fd_);
}

Napi::Value NetnsFile::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Value NetnsFile::Close(const Napi::CallbackInfo& info) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  return info.Env().Undefined();
}

}  // namespace tuntap
