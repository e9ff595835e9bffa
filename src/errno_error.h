// Errors thrown by the native core carry only what JS needs to build a
// Node-style error: `errno` (positive, as the kernel returned it) and
// `syscall`. Messages, codes and hints are policy and live in lib/internal/errors.ts.
#pragma once
#include <napi.h>
#include <unistd.h>

#include <cerrno>

namespace tuntap {

// For work done off the JS thread, whose result (`Outcome`: fd, err, syscall
// and more) says either "here is an fd, yours now" or "this call failed":
// records errno for `syscall`, closes what was opened so far, returns `r`.
template <typename Outcome>
Outcome Failed(Outcome& r, const char* syscall) {
  r.err = errno;
  r.syscall = syscall;
  if (r.fd >= 0) ::close(r.fd);
  r.fd = -1;
  return r;
}

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall);

// strerror(errno) -> the C library's description, for messages built in JS.
Napi::Value Strerror(const Napi::CallbackInfo& info);

}  // namespace tuntap
