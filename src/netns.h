// NetnsGuard runs a scope on the calling thread in another network namespace (setns moves one
// thread) and returns on every path out; if the way back fails the process aborts, since a thread
// left behind would silently create sockets and devices there. NetnsFile holds a namespace open.
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

// new NetnsFile(path | fd): a namespace held by fd, since a path like /var/run/netns/NAME may name
// another namespace after `ip netns del/add`. close() is idempotent; collection closes it too.
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
