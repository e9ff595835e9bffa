// The ioctls of an open TUN/TAP queue fd. JS has checked every argument
// (ranges, the device's mode) before calling; here each is one syscall on
// the thread pool, and a failure rejects with ErrnoError naming the ioctl.
#include <fcntl.h>
#include <net/if.h>  // before linux/if_tun.h, which would pull in linux/if.h
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#include "errno_error.h"
#include "tun_ioctl.h"

namespace tuntap {
namespace {

int FdArg(const Napi::CallbackInfo& info) { return info[0].As<Napi::Number>().Int32Value(); }

void Check(Napi::Env env, int rc, const char* syscall) {
  if (rc < 0) throw ErrnoError(env, errno, syscall);
}

// TUNATTACHFILTER keeps the pointer, not the program: the kernel copies it again whenever a queue
// is attached later (TUNSETQUEUE), so each distinct program is kept here, once, for good.
const std::string& KeptProgram(const std::string& program) {
  static std::mutex mutex;
  static auto* kept = new std::set<std::string>();
  std::lock_guard<std::mutex> lock(mutex);
  return *kept->insert(program).first;
}

// The ioctls of a queue, as tunIoctl(fd, op, arg) names them.
enum Op { kGetIff, kSetPersist, kSetOwner, kSetGroup, kSetSndBuf, kGetSndBuf, kSetQueue, kAttachFilter, kDetachFilter };

const char* SyscallOf(Op op) {
  switch (op) {
    case kGetIff: return "ioctl(TUNGETIFF)";
    case kSetPersist: return "ioctl(TUNSETPERSIST)";
    case kSetOwner: return "ioctl(TUNSETOWNER)";
    case kSetGroup: return "ioctl(TUNSETGROUP)";
    case kSetSndBuf: return "ioctl(TUNSETSNDBUF)";
    case kGetSndBuf: return "ioctl(TUNGETSNDBUF)";
    case kSetQueue: return "ioctl(TUNSETQUEUE)";
    case kAttachFilter: return "ioctl(TUNATTACHFILTER)";
    case kDetachFilter: return "ioctl(TUNDETACHFILTER)";
  }
  return "ioctl";
}

// One ioctl on the thread pool, since TUN ioctls take the kernel's rtnl lock. On a dup of the
// queue's fd made on the JS thread, so a close() meanwhile cannot hand the number to another file.
class IoctlWorker : public Napi::AsyncWorker {
 public:
  IoctlWorker(Napi::Env env, int fd, Op op, long arg, const std::string* program)
      : Napi::AsyncWorker(env, "TunDeviceIoctl"),
        fd_(fd),
        op_(op),
        arg_(arg),
        program_(program),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  ~IoctlWorker() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    int rc = 0;
    switch (op_) {
      case kGetIff:
        std::memset(&ifr_, 0, sizeof(ifr_));
        rc = ::ioctl(fd_, TUNGETIFF, &ifr_);
        break;
      // TUNSETPERSIST, TUNSETOWNER and TUNSETGROUP take their value as the
      // ioctl argument itself, not through a pointer.
      case kSetPersist:
      case kSetOwner:
      case kSetGroup: {
        unsigned long request = op_ == kSetPersist ? TUNSETPERSIST : op_ == kSetOwner ? TUNSETOWNER : TUNSETGROUP;
        rc = ::ioctl(fd_, request, static_cast<unsigned long>(arg_));
        break;
      }
      case kSetSndBuf:
        size_ = static_cast<int>(arg_);
        rc = ::ioctl(fd_, TUNSETSNDBUF, &size_);
        break;
      case kGetSndBuf: rc = ::ioctl(fd_, TUNGETSNDBUF, &size_); break;
      case kSetQueue:
        // TUNSETQUEUE reads only ifr_flags.
        std::memset(&ifr_, 0, sizeof(ifr_));
        ifr_.ifr_flags = arg_ != 0 ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
        rc = ::ioctl(fd_, TUNSETQUEUE, &ifr_);
        if (rc == 0 && arg_ != 0) {
          // On a device with a BPF filter, tun_attach() puts the filter on
          // the queue's socket and returns success without attaching the
          // queue. Say so rather than report an attach that did not happen.
          struct ifreq now;
          std::memset(&now, 0, sizeof(now));
          if (::ioctl(fd_, TUNGETIFF, &now) == 0 && (now.ifr_flags & IFF_DETACH_QUEUE) != 0) {
            rc = -1;
            errno = EBUSY;
          }
        }
        break;
      case kAttachFilter: {
        // program holds struct sock_filter records (8 bytes each, host byte
        // order) that lib/packet/filter.ts encoded; the kernel copies and checks it.
        struct sock_fprog fprog;
        fprog.len = static_cast<unsigned short>(program_->size() / sizeof(struct sock_filter));
        fprog.filter = reinterpret_cast<struct sock_filter*>(const_cast<char*>(program_->data()));
        rc = ::ioctl(fd_, TUNATTACHFILTER, &fprog);
        break;
      }
      case kDetachFilter: {
        struct sock_fprog fprog;
        std::memset(&fprog, 0, sizeof(fprog));
        rc = ::ioctl(fd_, TUNDETACHFILTER, &fprog);
        break;
      }
    }
    err_ = rc < 0 ? errno : 0;
    ::close(fd_);
    fd_ = -1;
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (err_ != 0) {
      deferred_.Reject(ErrnoError(env, err_, SyscallOf(op_)).Value());
    } else if (op_ == kGetIff) {
      Napi::Object result = Napi::Object::New(env);
      result.Set("name", Napi::String::New(env, ifr_.ifr_name));
      result.Set("flags", static_cast<unsigned short>(ifr_.ifr_flags));
      deferred_.Resolve(result);
    } else if (op_ == kGetSndBuf) {
      deferred_.Resolve(Napi::Number::New(env, size_));
    } else {
      deferred_.Resolve(env.Undefined());
    }
  }

 private:
  int fd_;
  Op op_;
  long arg_;
  const std::string* program_;  // KeptProgram()'s, for kAttachFilter
  Napi::Promise::Deferred deferred_;
  struct ifreq ifr_;
  int size_ = 0;
  int err_ = 0;
};

// tunIoctl(fd, op, arg?, program?) -> Promise: undefined, { name, flags }
// (TUNGETIFF) or a number (TUNGETSNDBUF). `op` is one of ioctlOps.
Napi::Value TunIoctl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ::fcntl(FdArg(info), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(env, errno, "fcntl(F_DUPFD_CLOEXEC)");
  auto op = static_cast<Op>(info[1].As<Napi::Number>().Int32Value());
  long arg = info.Length() > 2 && info[2].IsNumber() ? static_cast<long>(info[2].As<Napi::Number>().Int64Value()) : 0;
  const std::string* program = nullptr;
  if (info.Length() > 3 && info[3].IsTypedArray()) {
    auto bytes = info[3].As<Napi::Uint8Array>();
    program = &KeptProgram(std::string(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength()));
  }
  auto* worker = new IoctlWorker(env, fd, op, arg, program);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

#ifndef TUNGETDEVNETNS
#define TUNGETDEVNETNS _IO('T', 227)
#endif

// tunDeviceNetns(fd) -> an fd (close-on-exec) for the network namespace the
// queue's device lives in, or -1 when that is the calling thread's own.
// TUNGETDEVNETNS needs CAP_NET_ADMIN over that namespace (EPERM otherwise).
Napi::Value TunDeviceNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int ns = ::ioctl(FdArg(info), TUNGETDEVNETNS);
  Check(env, ns, "ioctl(TUNGETDEVNETNS)");
  struct stat theirs, ours;
  if (::fstat(ns, &theirs) == 0 && ::stat("/proc/thread-self/ns/net", &ours) == 0 && theirs.st_dev == ours.st_dev &&
      theirs.st_ino == ours.st_ino) {
    ::close(ns);
    ns = -1;
  }
  return Napi::Number::New(env, ns);
}

// tunGetIff(fd) -> { name, flags }, at once: for fromFd(), which must know
// what an fd is before it changes anything about it.
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

// adoptFd(fd): an fd from elsewhere becomes non-blocking (libuv polls it) and
// close-on-exec, like ours. O_NONBLOCK belongs to the open file description,
// so the process that sent the fd sees it too.
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
  exports.Set("tunIoctl", Napi::Function::New(env, TunIoctl, "tunIoctl"));
  exports.Set("tunGetIff", Napi::Function::New(env, TunGetIff, "tunGetIff"));
  exports.Set("tunDeviceNetns", Napi::Function::New(env, TunDeviceNetns, "tunDeviceNetns"));
  exports.Set("adoptFd", Napi::Function::New(env, AdoptFd, "adoptFd"));
  Napi::Object ops = Napi::Object::New(env);
  ops.Set("getIff", static_cast<int>(kGetIff));
  ops.Set("setPersist", static_cast<int>(kSetPersist));
  ops.Set("setOwner", static_cast<int>(kSetOwner));
  ops.Set("setGroup", static_cast<int>(kSetGroup));
  ops.Set("setSndBuf", static_cast<int>(kSetSndBuf));
  ops.Set("getSndBuf", static_cast<int>(kGetSndBuf));
  ops.Set("setQueue", static_cast<int>(kSetQueue));
  ops.Set("attachFilter", static_cast<int>(kAttachFilter));
  ops.Set("detachFilter", static_cast<int>(kDetachFilter));
  exports.Set("ioctlOps", ops);
}

}  // namespace tuntap
