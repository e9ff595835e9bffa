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

#include "errno_error.h"
#include "netns.h"
#include "tun_open.h"

namespace tuntap {
namespace {

// Copies an interface name into ifr_name; JS has checked it fits in IFNAMSIZ-1.
void SetIfrName(struct ifreq& ifr, const std::string& name) {
  std::memset(&ifr, 0, sizeof(ifr));
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
}

// openTun(path, name, flags, netns?) -> { fd, name, flags, index }
// The fd is non-blocking from the start: the reader is driven by libuv and a
// blocking read would freeze the event loop.
// With netns, the whole open runs in that namespace: a TUN file belongs to
// the namespace of the thread that opened /dev/net/tun, and TUNSETIFF makes
// the device there; the index is looked up there too, since it means nothing
// elsewhere. The guard takes the thread home on every way out.
Napi::Value OpenTun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>();
  std::string name = info[1].As<Napi::String>();
  int flags = info[2].As<Napi::Number>().Int32Value();
  NetnsGuard guard(NetnsArg(info, 3));
  if (!guard.ok()) throw ErrnoError(env, guard.error(), guard.syscall());

  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw ErrnoError(env, errno, "open");

  struct ifreq ifr;
  SetIfrName(ifr, name);
  ifr.ifr_flags = static_cast<short>(flags);
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    ::close(fd);
    throw ErrnoError(env, err, "ioctl(TUNSETIFF)");
  }
  // TUNSETIFF writes back the name the kernel chose (for "" or "tun%d").
  // TUNGETIFF adds the flags the device really has (IFF_PERSIST, ...).
  struct ifreq got;
  std::memset(&got, 0, sizeof(got));
  if (::ioctl(fd, TUNGETIFF, &got) < 0) {
    int err = errno;
    ::close(fd);
    throw ErrnoError(env, err, "ioctl(TUNGETIFF)");
  }
  unsigned index = ::if_nametoindex(ifr.ifr_name);
  if (index == 0) {
    int err = errno;
    ::close(fd);
    throw ErrnoError(env, err, "if_nametoindex");
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", fd);
  result.Set("name", Napi::String::New(env, ifr.ifr_name));
  result.Set("flags", static_cast<unsigned short>(got.ifr_flags));
  result.Set("index", index);
  return result;
}

// interfaceMtu(name, netns?) -> number, through SIOCGIFMTU on a throwaway
// socket in the calling thread's network namespace (or in netns).
Napi::Value InterfaceMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  NetnsGuard guard(NetnsArg(info, 1));
  if (!guard.ok()) throw ErrnoError(env, guard.error(), guard.syscall());
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) throw ErrnoError(env, errno, "socket");
  struct ifreq ifr;
  SetIfrName(ifr, name);
  int rc = ::ioctl(sock, SIOCGIFMTU, &ifr);
  int err = errno;
  ::close(sock);
  if (rc < 0) throw ErrnoError(env, err, "ioctl(SIOCGIFMTU)");
  return Napi::Number::New(env, ifr.ifr_mtu);
}

// interfaceIndex(name) -> number (0 never: a missing name throws ENODEV).
Napi::Value InterfaceIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  unsigned index = ::if_nametoindex(name.c_str());
  if (index == 0) throw ErrnoError(env, errno, "if_nametoindex");
  return Napi::Number::New(env, index);
}

}  // namespace

void InitTunOpen(Napi::Env env, Napi::Object exports) {
  exports.Set("openTun", Napi::Function::New(env, OpenTun, "openTun"));
  exports.Set("interfaceMtu", Napi::Function::New(env, InterfaceMtu, "interfaceMtu"));
  exports.Set("interfaceIndex", Napi::Function::New(env, InterfaceIndex, "interfaceIndex"));

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
