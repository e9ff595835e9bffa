// Offloads on a TUN/TAP queue opened with IFF_VNET_HDR: the size of the
// virtio_net_hdr in front of every packet, its byte order, and which
// offloads (TUNSETOFFLOAD) the kernel may hand us. Each entry point is one
// ioctl; which flags to ask for, and what a refusal means, is decided in
// lib/device/offload.ts.
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "errno_error.h"
#include "tun_offload.h"

// Older userspace headers lack the UDP segmentation offload flags (Linux 6.2).
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

namespace tuntap {
namespace {

// setVnetHeader(fd, size): TUNSETVNETHDRSZ, then TUNSETVNETLE so the header's
// 16-bit fields are little-endian whatever the host (legacy virtio would use
// the host's order). The size is per device and survives a re-attach, so it is
// always set, even when it is the default.
Napi::Value SetVnetHeader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int size = info[1].As<Napi::Number>().Int32Value();
  if (::ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) throw ErrnoError(env, errno, "ioctl(TUNSETVNETHDRSZ)");
  int le = 1;
  if (::ioctl(fd, TUNSETVNETLE, &le) < 0) throw ErrnoError(env, errno, "ioctl(TUNSETVNETLE)");
  return env.Undefined();
}

// setOffload(fd, flags) -> 0 or -errno. Not a throw: EINVAL here means "this
// kernel does not know one of these flags", and JS probes which one.
Napi::Value SetOffload(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  unsigned int flags = info[1].As<Napi::Number>().Uint32Value();
  int rc = ::ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags));
  return Napi::Number::New(info.Env(), rc < 0 ? -errno : 0);
}

}  // namespace

void InitTunOffload(Napi::Env env, Napi::Object exports) {
  exports.Set("setVnetHeader", Napi::Function::New(env, SetVnetHeader, "setVnetHeader"));
  exports.Set("setOffload", Napi::Function::New(env, SetOffload, "setOffload"));
  Napi::Object c = Napi::Object::New(env);
  c.Set("TUN_F_CSUM", TUN_F_CSUM);
  c.Set("TUN_F_TSO4", TUN_F_TSO4);
  c.Set("TUN_F_TSO6", TUN_F_TSO6);
  c.Set("TUN_F_TSO_ECN", TUN_F_TSO_ECN);
  c.Set("TUN_F_USO4", TUN_F_USO4);
  c.Set("TUN_F_USO6", TUN_F_USO6);
  exports.Set("offloadConstants", c);
}

}  // namespace tuntap
