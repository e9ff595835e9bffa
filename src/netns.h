// Network namespaces: NetnsGuard runs a scope of code in another namespace,
// on the calling thread only; NetnsFile holds a namespace open so that later
// calls act on the namespace that was there then.
//
// setns(2) moves one thread; sockets and TUN devices are created in the
// namespace of the thread that makes them. The guard opens the thread's
// current namespace (/proc/thread-self/ns/net, not /proc/self: in a worker or
// after an earlier setns the two differ), enters the target, and returns in
// its destructor, on every path out of the scope, exceptions included.
//
//   NetnsGuard guard(NetnsArg(info, 3));  // absent = stay where we are, no syscall
//   if (!guard.ok()) throw ErrnoError(env, guard.error(), guard.syscall());
//   int fd = ::open("/dev/net/tun", ...);  // the device is made in the target
//
// If the way back fails the process aborts: a thread left in the wrong
// namespace would go on creating sockets and devices there, silently.
#pragma once
#include <napi.h>

#include <string>

namespace tuntap {

// A namespace to enter: an fd held open (a NetnsFile's), a path to open now,
// or neither (stay in ours).
struct NetnsTarget {
  std::string path;
  bool byFd = false;
  int fd = -1;  // with byFd; -1 (a closed NetnsFile) fails with EBADF, never means "ours"
};

// The optional namespace argument info[i] of a native entry point: a number
// is an fd, a string a path; anything else (or nothing) means "ours".
inline NetnsTarget NetnsArg(const Napi::CallbackInfo& info, size_t i) {
  NetnsTarget target;
  if (info.Length() <= i) return target;
  if (info[i].IsNumber()) {
    target.byFd = true;
    target.fd = info[i].As<Napi::Number>().Int32Value();
  } else if (info[i].IsString()) {
    target.path = info[i].As<Napi::String>().Utf8Value();
  }
  return target;
}

class NetnsGuard {
 public:
  explicit NetnsGuard(const NetnsTarget& target);
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

// new NetnsFile(path | fd): the namespace file opened once (close-on-exec),
// or a namespace fd this process owns already, taken over. A path
// like /var/run/netns/NAME is only a name: after `ip netns del NAME; ip netns
// add NAME` it names another namespace, while this fd keeps the first one
// (and keeps it alive). `fd` is -1 once closed; close() is idempotent and
// the fd is closed at garbage collection if JS never called it.
class NetnsFile : public Napi::ObjectWrap<NetnsFile> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NetnsFile(const Napi::CallbackInfo& info);
  ~NetnsFile() override;

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  int fd_ = -1;
};

}  // namespace tuntap
