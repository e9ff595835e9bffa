#include "owned_fd.h"

#include <unistd.h>

#include <cerrno>

#include "errno_error.h"
#include "polled_fd.h"

namespace tuntap {

Napi::Function OwnedFd::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env,
                                    "OwnedFd",
                                    {
                                        InstanceAccessor<&OwnedFd::GetFd>("fd"),
                                        InstanceMethod<&OwnedFd::Close>("close"),
                                    });
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr) data->ownedFdClass = Napi::Persistent(ctor);
  return ctor;
}

Napi::Object OwnedFd::New(Napi::Env env, int fd) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data == nullptr || data->ownedFdClass.IsEmpty()) throw ErrnoError(env, EINVAL, "OwnedFd");
  // Made empty, then given the fd: a constructor that failed (JS is
  // stopping) never took it, and the caller still closes it.
  Napi::Object object = data->ownedFdClass.New({});
  Unwrap(object)->Own(env, fd);
  return object;
}

OwnedFd* OwnedFd::From(Napi::Env env, Napi::Value value) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data == nullptr || data->ownedFdClass.IsEmpty() || !value.IsObject()) return nullptr;
  Napi::Object object = value.As<Napi::Object>();
  return object.InstanceOf(data->ownedFdClass.Value()) ? Unwrap(object) : nullptr;
}

int OwnedFd::Take(Napi::Env env, Napi::Value value) {
  OwnedFd* owner = From(env, value);
  int fd = owner != nullptr ? owner->Detach(env) : -1;
  if (fd < 0) throw ErrnoError(env, EBADF, "OwnedFd");
  return fd;
}

int OwnedFd::Peek(Napi::Env env, Napi::Value value) {
  OwnedFd* owner = From(env, value);
  return owner != nullptr ? owner->fd_ : -1;
}

void OwnedFd::Forget(Napi::Env env, Napi::Value value) {
  OwnedFd* owner = From(env, value);
  if (owner != nullptr) owner->Detach(env);
}

// new OwnedFd(fd?): with a number, that fd is owned from this line.
OwnedFd::OwnedFd(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OwnedFd>(info) {
  if (info.Length() > 0 && info[0].IsNumber()) Own(info.Env(), info[0].As<Napi::Number>().Int32Value());
}

OwnedFd::~OwnedFd() {
  if (fd_ < 0) return;
  ::close(fd_);
  UntrackResource(Env(), this);
}

void OwnedFd::Own(Napi::Env env, int fd) {
  fd_ = fd;
  TrackResource(env, this);
}

int OwnedFd::Detach(Napi::Env env) {
  int fd = fd_;
  if (fd >= 0) UntrackResource(env, this);
  fd_ = -1;
  return fd;
}

void OwnedFd::Release() {
  int fd = Detach(Env());
  if (fd >= 0) ::close(fd);
}

Napi::Value OwnedFd::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

// close(done?): idempotent. A TUN queue's close takes the kernel's rtnl lock
// (see CloseFdAsync): with `done` it happens on the thread pool.
Napi::Value OwnedFd::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Detach(env);
  if (info.Length() > 0 && info[0].IsFunction()) {
    CloseFdAsync(env, fd, info[0].As<Napi::Function>());  // -1: done(EBADF), on a later turn
  } else if (fd >= 0) {
    ::close(fd);
  }
  return env.Undefined();
}

}  // namespace tuntap
