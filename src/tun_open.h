#pragma once
#include <napi.h>

namespace tuntap {
void InitTunOpen(Napi::Env env, Napi::Object exports);
}
