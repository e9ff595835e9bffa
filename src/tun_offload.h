#pragma once
#include <napi.h>

namespace tuntap {
// The TUN_F_* flags whose offloads the device `name` has on now (as ethtool
// reads them), or -errno. In the calling thread's network namespace.
int DeviceOffloads(const char* name);
void InitTunOffload(Napi::Env env, Napi::Object exports);
}  // namespace tuntap
