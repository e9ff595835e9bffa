// Opening a TUN/TAP queue and asking the kernel about an interface.
// Everything here is one or two syscalls; validation and naming policy are in
// lib/tun-device.ts, which only passes values it has already checked.
#include <fcntl.h>
#include <net/if.h>  // before linux/if_tun.h, which would pull in linux/if.h
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "errno_error.h"
#include "netns.h"
#include "owned_fd.h"
#include "tun_offload.h"
#include "tun_open.h"

namespace tuntap {
namespace {

// Copies an interface name into ifr_name; JS has checked it fits in IFNAMSIZ-1.
void SetIfrName(struct ifreq& ifr, const std::string& name) {
  std::memset(&ifr, 0, sizeof(ifr));
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
}

// The index of interface `name` in the thread's namespace, or 0 with errno set
// and `syscall` named. Not if_nametoindex(): glibc opens a socket of its own
// there and reports any failure, EMFILE included, as ENOENT.
unsigned InterfaceIndex(const char* name, const char*& syscall) {
  int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    syscall = "socket(AF_UNIX)";
    return 0;
  }
  struct ifreq ifr;
  SetIfrName(ifr, name);
  int rc = ::ioctl(sock, SIOCGIFINDEX, &ifr);
  int err = errno;
  ::close(sock);
  errno = err;
  if (rc < 0) {
    syscall = "ioctl(SIOCGIFINDEX)";
    return 0;
  }
  return static_cast<unsigned>(ifr.ifr_ifindex);
}

// What openTun asks for. owner, group and sendBufferSize are -1 when not
// set; persist is -1 (leave it), 0 or 1.
struct OpenSpec {
  std::string path;
  std::string name;
  NetnsTarget netns;
  int flags = 0;
  long owner = -1;
  long group = -1;
  int sendBufferSize = -1;
  int persist = -1;
};

struct Opened {
  int fd = -1;
  char name[IFNAMSIZ] = {0};
  unsigned short flags = 0;
  unsigned index = 0;
  int offloads = 0;  // TUN_F_* the device has on; -errno if unknown
  int err = 0;
  const char* syscall = "";
};

// Opens one queue as `spec` says, on a thread-pool thread (no N-API), non-blocking for libuv.
// With netns, all of it runs in that namespace: TUNSETIFF makes the device in the opening
// thread's namespace, and the index means nothing elsewhere.
Opened OpenQueue(const OpenSpec& spec) {
  Opened r;
  NetnsGuard guard(spec.netns);
  if (!guard.ok()) {
    r.err = guard.error();
    r.syscall = guard.syscall();
    return r;
  }
  r.fd = ::open(spec.path.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (r.fd < 0) return Failed(r, "open");

  struct ifreq ifr;
  SetIfrName(ifr, spec.name);
  ifr.ifr_flags = static_cast<short>(spec.flags);
  if (::ioctl(r.fd, TUNSETIFF, &ifr) < 0) return Failed(r, "ioctl(TUNSETIFF)");
  // TUNSETIFF writes back the name the kernel chose (for "" or "tun%d").
  std::memcpy(r.name, ifr.ifr_name, IFNAMSIZ);
  r.name[IFNAMSIZ - 1] = '\0';
  // TUNGETIFF adds the flags the device really has (IFF_PERSIST, ...),
  // as they were before the options below change them.
  struct ifreq got;
  std::memset(&got, 0, sizeof(got));
  if (::ioctl(r.fd, TUNGETIFF, &got) < 0) return Failed(r, "ioctl(TUNGETIFF)");
  r.flags = static_cast<unsigned short>(got.ifr_flags);
  const char* indexSyscall = "";
  r.index = InterfaceIndex(r.name, indexSyscall);
  if (r.index == 0) return Failed(r, indexSyscall);
  // A queue joining a multi-queue device gets the device's vnet header and
  // offloads, whatever it asked: read which offloads those are, here in the
  // device's namespace.
  if ((r.flags & IFF_VNET_HDR) != 0) r.offloads = DeviceOffloads(r.name);

  // TUNSETOWNER, TUNSETGROUP and TUNSETPERSIST take their value as the
  // ioctl argument itself, not through a pointer.
  if (spec.owner >= 0 && ::ioctl(r.fd, TUNSETOWNER, static_cast<unsigned long>(spec.owner)) < 0) {
    return Failed(r, "ioctl(TUNSETOWNER)");
  }
  if (spec.group >= 0 && ::ioctl(r.fd, TUNSETGROUP, static_cast<unsigned long>(spec.group)) < 0) {
    return Failed(r, "ioctl(TUNSETGROUP)");
  }
  if (spec.sendBufferSize >= 0) {
    int size = spec.sendBufferSize;
    if (::ioctl(r.fd, TUNSETSNDBUF, &size) < 0) return Failed(r, "ioctl(TUNSETSNDBUF)");
  }
  if (spec.persist >= 0 && ::ioctl(r.fd, TUNSETPERSIST, static_cast<unsigned long>(spec.persist)) < 0) {
    return Failed(r, "ioctl(TUNSETPERSIST)");
  }
  return r;
}

// Runs OpenQueue on the libuv thread pool: TUNSETIFF and the option ioctls
// take the kernel's rtnl lock, and setns() into another namespace is slower
// still; none of it may stall the event loop.
class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Env env, OpenSpec spec)
      : Napi::AsyncWorker(env, "TunDeviceOpen"), spec_(std::move(spec)), deferred_(Napi::Promise::Deferred::New(env)) {}
  // An fd no OwnedFd took (JS stopped before OnOK made one) is closed here.
  ~OpenWorker() override {
    if (opened_.fd >= 0) ::close(opened_.fd);
  }
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override { opened_ = OpenQueue(spec_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (opened_.err != 0) {
      Napi::Error error = ErrnoError(env, opened_.err, opened_.syscall);
      if (opened_.name[0] != '\0') error.Set("device", Napi::String::New(env, opened_.name));
      deferred_.Reject(error.Value());
      return;
    }
    // The fd's owner from here on, whatever becomes of JS (see owned_fd.h).
    Napi::Object fd = OwnedFd::New(env, opened_.fd);
    opened_.fd = -1;
    Napi::Object result = Napi::Object::New(env);
    result.Set("fd", fd);
    result.Set("name", Napi::String::New(env, opened_.name));
    result.Set("flags", opened_.flags);
    result.Set("index", opened_.index);
    result.Set("offloads", opened_.offloads);
    deferred_.Resolve(result);
  }

 private:
  OpenSpec spec_;
  Opened opened_;
  Napi::Promise::Deferred deferred_;
};

// openTun(path, name, flags, netns, [owner, group, sendBufferSize, persist])
//   -> Promise<{ fd: OwnedFd, name, flags, index, offloads }>
Napi::Value OpenTun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OpenSpec spec;
  spec.path = info[0].As<Napi::String>();
  spec.name = info[1].As<Napi::String>();
  spec.flags = info[2].As<Napi::Number>().Int32Value();
  spec.netns = NetnsArg(info, 3);
  if (info.Length() > 4 && info[4].IsArray()) {
    auto options = info[4].As<Napi::Array>();
    spec.owner = options.Get(0u).As<Napi::Number>().Int64Value();
    spec.group = options.Get(1u).As<Napi::Number>().Int64Value();
    spec.sendBufferSize = options.Get(2u).As<Napi::Number>().Int32Value();
    spec.persist = options.Get(3u).As<Napi::Number>().Int32Value();
  }
  auto* worker = new OpenWorker(env, std::move(spec));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitTunOpen(Napi::Env env, Napi::Object exports) {
  exports.Set("openTun", Napi::Function::New(env, OpenTun, "openTun"));

  Napi::Object c = Napi::Object::New(env);
  c.Set("IFF_TUN", IFF_TUN);
  c.Set("IFF_TAP", IFF_TAP);
  c.Set("IFF_NO_PI", IFF_NO_PI);
  c.Set("IFF_MULTI_QUEUE", IFF_MULTI_QUEUE);
  c.Set("IFF_VNET_HDR", IFF_VNET_HDR);
  c.Set("IFF_PERSIST", IFF_PERSIST);
  c.Set("IFF_NAPI", IFF_NAPI);
  c.Set("IFF_NAPI_FRAGS", IFF_NAPI_FRAGS);
  c.Set("IFNAMSIZ", IFNAMSIZ);
  exports.Set("constants", c);
}

}  // namespace tuntap
