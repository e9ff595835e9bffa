// The ioctls of an open TUN/TAP queue fd, one thin function each. JS has
// checked every argument (ranges, the device's mode) before calling; here each
// is one syscall, and a failure throws ErrnoError naming the ioctl.
#include <fcntl.h>
#include <net/if.h>  // before linux/if_tun.h, which would pull in linux/if.h
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "errno_error.h"
#include "tun_ioctl.h"

namespace tuntap {
namespace {

int FdArg(const Napi::CallbackInfo& info) { return info[0].As<Napi::Number>().Int32Value(); }

void Check(Napi::Env env, int rc, const char* syscall) {
  if (rc < 0) throw ErrnoError(env, errno, syscall);
}

// tunGetIff(fd) -> { name, flags }: the device this queue is attached to.
// EBADFD when the queue is detached or the device was deleted.
Napi::Value TunGetIff(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  Check(env, ::ioctl(FdArg(info), TUNGETIFF, &ifr), "ioctl(TUNGETIFF)");
  Napi::Object result = Napi::Object::New(env);
  result.Set("name", Napi::String::New(env, ifr.ifr_name));
  result.Set("flags", static_cast<unsigned short>(ifr.ifr_flags));
  return result;
}

// TUNSETPERSIST, TUNSETOWNER and TUNSETGROUP take their value as the ioctl
// argument itself, not through a pointer.
Napi::Value TunSetPersist(const Napi::CallbackInfo& info) {
  unsigned long on = info[1].As<Napi::Boolean>().Value() ? 1 : 0;
  Check(info.Env(), ::ioctl(FdArg(info), TUNSETPERSIST, on), "ioctl(TUNSETPERSIST)");
  return info.Env().Undefined();
}

Napi::Value TunSetOwner(const Napi::CallbackInfo& info) {
  unsigned long uid = info[1].As<Napi::Number>().Uint32Value();
  Check(info.Env(), ::ioctl(FdArg(info), TUNSETOWNER, uid), "ioctl(TUNSETOWNER)");
  return info.Env().Undefined();
}

Napi::Value TunSetGroup(const Napi::CallbackInfo& info) {
  unsigned long gid = info[1].As<Napi::Number>().Uint32Value();
  Check(info.Env(), ::ioctl(FdArg(info), TUNSETGROUP, gid), "ioctl(TUNSETGROUP)");
  return info.Env().Undefined();
}

Napi::Value TunSetSndBuf(const Napi::CallbackInfo& info) {
  int size = info[1].As<Napi::Number>().Int32Value();
  Check(info.Env(), ::ioctl(FdArg(info), TUNSETSNDBUF, &size), "ioctl(TUNSETSNDBUF)");
  return info.Env().Undefined();
}

Napi::Value TunGetSndBuf(const Napi::CallbackInfo& info) {
  int size = 0;
  Check(info.Env(), ::ioctl(FdArg(info), TUNGETSNDBUF, &size), "ioctl(TUNGETSNDBUF)");
  return Napi::Number::New(info.Env(), size);
}

// tunSetQueue(fd, attach): TUNSETQUEUE reads only ifr_flags.
Napi::Value TunSetQueue(const Napi::CallbackInfo& info) {
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = info[1].As<Napi::Boolean>().Value() ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
  Check(info.Env(), ::ioctl(FdArg(info), TUNSETQUEUE, &ifr), "ioctl(TUNSETQUEUE)");
  return info.Env().Undefined();
}

// tunAttachFilter(fd, program: Uint8Array): program holds struct sock_filter
// records (8 bytes each, host byte order) that lib/filter.ts encoded. The
// kernel copies and checks the program during the call.
Napi::Value TunAttachFilter(const Napi::CallbackInfo& info) {
  auto program = info[1].As<Napi::Uint8Array>();
  struct sock_fprog fprog;
  fprog.len = static_cast<unsigned short>(program.ByteLength() / sizeof(struct sock_filter));
  fprog.filter = reinterpret_cast<struct sock_filter*>(program.Data());
  Check(info.Env(), ::ioctl(FdArg(info), TUNATTACHFILTER, &fprog), "ioctl(TUNATTACHFILTER)");
  return info.Env().Undefined();
}

Napi::Value TunDetachFilter(const Napi::CallbackInfo& info) {
  struct sock_fprog fprog;
  std::memset(&fprog, 0, sizeof(fprog));
  Check(info.Env(), ::ioctl(FdArg(info), TUNDETACHFILTER, &fprog), "ioctl(TUNDETACHFILTER)");
  return info.Env().Undefined();
}

// adoptFd(fd): an fd from elsewhere (another process, a parent) becomes one
// we can drive: non-blocking, because libuv polls it and a blocking read
// would freeze the loop, and close-on-exec, like every fd we open ourselves.
// O_NONBLOCK belongs to the open file description, so the sender sees it too.
Napi::Value AdoptFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info);
  int fl = ::fcntl(fd, F_GETFL);
  Check(env, fl, "fcntl(F_GETFL)");
  if ((fl & O_NONBLOCK) == 0) Check(env, ::fcntl(fd, F_SETFL, fl | O_NONBLOCK), "fcntl(F_SETFL)");
  int fdfl = ::fcntl(fd, F_GETFD);
  Check(env, fdfl, "fcntl(F_GETFD)");
  Check(env, ::fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC), "fcntl(F_SETFD)");
  return env.Undefined();
}

}  // namespace

void InitTunIoctl(Napi::Env env, Napi::Object exports) {
  exports.Set("tunGetIff", Napi::Function::New(env, TunGetIff, "tunGetIff"));
  exports.Set("tunSetPersist", Napi::Function::New(env, TunSetPersist, "tunSetPersist"));
  exports.Set("tunSetOwner", Napi::Function::New(env, TunSetOwner, "tunSetOwner"));
  exports.Set("tunSetGroup", Napi::Function::New(env, TunSetGroup, "tunSetGroup"));
  exports.Set("tunSetSndBuf", Napi::Function::New(env, TunSetSndBuf, "tunSetSndBuf"));
  exports.Set("tunGetSndBuf", Napi::Function::New(env, TunGetSndBuf, "tunGetSndBuf"));
  exports.Set("tunSetQueue", Napi::Function::New(env, TunSetQueue, "tunSetQueue"));
  exports.Set("tunAttachFilter", Napi::Function::New(env, TunAttachFilter, "tunAttachFilter"));
  exports.Set("tunDetachFilter", Napi::Function::New(env, TunDetachFilter, "tunDetachFilter"));
  exports.Set("adoptFd", Napi::Function::New(env, AdoptFd, "adoptFd"));
}

}  // namespace tuntap
