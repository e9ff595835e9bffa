// read(2) and write(2) as raw system calls, retried on EINTR: bytes moved or -errno. Raw because
// glibc's wrappers are cancellation points, two atomic updates per packet in a multi-threaded
// process, and nothing here uses pthread cancellation.
#pragma once
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace tuntap {

inline ssize_t SysRead(int fd, void* buffer, size_t length) {
  ssize_t n;
  do {
    n = syscall(SYS_read, fd, buffer, length);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

inline ssize_t SysWrite(int fd, const void* buffer, size_t length) {
  ssize_t n;
  do {
    n = syscall(SYS_write, fd, buffer, length);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

}  // namespace tuntap
