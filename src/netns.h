// NetnsGuard: runs a scope of code in another network namespace, on the
// calling thread only.
//
// setns(2) moves one thread; sockets and TUN devices are created in the
// namespace of the thread that makes them. The guard opens the thread's
// current namespace (/proc/thread-self/ns/net, not /proc/self: in a worker or
// after an earlier setns the two differ), enters the target, and returns in
// its destructor, on every path out of the scope, exceptions included.
//
//   NetnsGuard guard(path);             // "" = stay where we are, no syscall
//   if (!guard.ok()) throw ErrnoError(env, guard.error(), guard.syscall());
//   int fd = ::open("/dev/net/tun", ...);  // the device is made in `path`
//
// If the way back fails the process aborts: a thread left in the wrong
// namespace would go on creating sockets and devices there, silently.
#pragma once
#include <napi.h>

#include <string>

namespace tuntap {

// The optional namespace-path argument info[i] of a native entry point: ""
// (stay in ours) when absent or not a string.
inline std::string NetnsArg(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : std::string();
}

class NetnsGuard {
 public:
  explicit NetnsGuard(const char* path);
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

  // False when the thread could not enter the namespace; it is then still
  // in its own, and error() / syscall() say why.
  bool ok() const { return error_ == 0; }
  int error() const { return error_; }
  const char* syscall() const { return syscall_; }

 private:
  int home_ = -1;  // fd of the namespace to return to; -1 when we never left
  int error_ = 0;
  const char* syscall_ = "";
};

}  // namespace tuntap
