// OwnedFd: an fd on its way from the kernel to the handle that will drive it.
// The thread-pool opens (openTun, NetlinkSocket.open) hand JS this object,
// never a bare number: whatever stops JS between the open and the handle
// (worker.terminate(), an exception, an abort), the fd has one owner, which
// closes it at the environment's teardown or at garbage collection.
//
//   ownedFd.fd                       the number, for ioctls meanwhile (-1 once closed or taken)
//   ownedFd.close(done?)             closes it now; with done, on the thread pool, then done(errno)
//   new OwnedFd(fd)                  an fd from elsewhere (fromFd), owned from then on
//   new TunHandle(ownedFd, ...), new NetlinkSocket(ownedFd, ...)   take it over (Take)
#pragma once
#include <napi.h>

#include "addon.h"

namespace tuntap {

class OwnedFd : public Napi::ObjectWrap<OwnedFd>, public NativeResource {
 public:
  static Napi::Function Init(Napi::Env env);
  // A new OwnedFd that owns fd once this returns; if it throws, fd is still the caller's.
  static Napi::Object New(Napi::Env env, int fd);
  // Hands over the fd of the OwnedFd `value`: the caller owns it now. Throws
  // EBADF when it was closed or taken already.
  static int Take(Napi::Env env, Napi::Value value);
  // The fd `value` holds (-1: none), still its own.
  static int Peek(Napi::Env env, Napi::Value value);
  // Lets go of the fd without closing it: it belonged to someone else.
  static void Forget(Napi::Env env, Napi::Value value);

  explicit OwnedFd(const Napi::CallbackInfo& info);
  ~OwnedFd() override;
  // The environment's cleanup hook: closes the fd. No JS.
  void Release() override;

 private:
  // The OwnedFd `value` is, or null for anything else.
  static OwnedFd* From(Napi::Env env, Napi::Value value);
  void Own(Napi::Env env, int fd);
  int Detach(Napi::Env env);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  int fd_ = -1;
};

}  // namespace tuntap
