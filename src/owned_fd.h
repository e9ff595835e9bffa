// OwnedFd: an fd on its way from a thread-pool open to the handle that will drive it, so whatever
// stops JS in between (worker.terminate(), an exception, an abort) it still has one owner.
//   ownedFd.fd, ownedFd.close(done?), new OwnedFd(fd); TunHandle and NetlinkSocket take it over
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
