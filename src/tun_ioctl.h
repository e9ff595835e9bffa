#pragma once
#include <napi.h>

namespace tuntap {
// The per-queue TUN/TAP ioctls beyond TUNSETIFF: flags, persistence,
// ownership, queues, send buffer, socket filter, adopting a passed-in fd.
void InitTunIoctl(Napi::Env env, Napi::Object exports);
}  // namespace tuntap
