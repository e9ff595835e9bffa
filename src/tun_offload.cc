// Offloads on a TUN/TAP queue opened with IFF_VNET_HDR, one ioctl an entry point: the header's
// size and byte order, and which offloads the kernel may hand us (policy: lib/device/offload.ts).
#include <net/if.h>  // before linux/if_tun.h, which would pull in linux/if.h
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

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

int DeviceOffloads(const char* name) {
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return -errno;
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  auto ask = [&](void* data) {
    ifr.ifr_data = static_cast<char*>(data);
    return ::ioctl(sock, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
  };
  // Feature bits are numbered differently by each kernel: find ours by name.
  uint64_t answer[(sizeof(struct ethtool_sset_info) + sizeof(uint32_t) + 7) / 8] = {0};
  auto* sset = reinterpret_cast<struct ethtool_sset_info*>(answer);
  sset->cmd = ETHTOOL_GSSET_INFO;
  sset->sset_mask = 1ULL << ETH_SS_FEATURES;
  int rc = ask(sset);
  uint32_t count = rc == 0 && sset->sset_mask != 0 ? sset->data[0] : 0;
  if (rc == 0 && count == 0) rc = -EOPNOTSUPP;
  uint32_t blocks = (count + 31) / 32;
  std::vector<uint8_t> names(sizeof(struct ethtool_gstrings) + static_cast<size_t>(count) * ETH_GSTRING_LEN);
  std::vector<uint8_t> states(sizeof(struct ethtool_gfeatures) + blocks * sizeof(struct ethtool_get_features_block));
  auto* strings = reinterpret_cast<struct ethtool_gstrings*>(names.data());
  auto* features = reinterpret_cast<struct ethtool_gfeatures*>(states.data());
  strings->cmd = ETHTOOL_GSTRINGS;
  strings->string_set = ETH_SS_FEATURES;
  strings->len = count;
  features->cmd = ETHTOOL_GFEATURES;
  features->size = blocks;
  if (rc == 0) rc = ask(strings);
  if (rc == 0) rc = ask(features);
  ::close(sock);
  if (rc < 0) return rc;
  // What TUNSETOFFLOAD turns on for each flag (drivers/net/tun.c, set_offload).
  static const struct {
    const char* feature;
    int flags;
  } kOffloads[] = {
      {"tx-checksum-ip-generic", TUN_F_CSUM},
      {"tx-tcp-segmentation", TUN_F_TSO4},
      {"tx-tcp6-segmentation", TUN_F_TSO6},
      {"tx-tcp-ecn-segmentation", TUN_F_TSO_ECN},
      {"tx-udp-segmentation", TUN_F_USO4 | TUN_F_USO6},
  };
  int on = 0;
  for (uint32_t i = 0; i < count; i++) {
    if ((features->features[i / 32].active & (1u << (i % 32))) == 0) continue;
    const char* feature = reinterpret_cast<const char*>(strings->data) + static_cast<size_t>(i) * ETH_GSTRING_LEN;
    for (const auto& o : kOffloads) {
      if (std::strncmp(feature, o.feature, ETH_GSTRING_LEN) == 0) on |= o.flags;
    }
  }
  return on;
}

namespace {

// setVnetHeader(fd, size): TUNSETVNETHDRSZ, then TUNSETVNETLE so the header is
// little-endian on any host. The size is per device and survives a re-attach,
// so it is always set, even to the default.
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
