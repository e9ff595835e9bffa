#pragma once
#include <napi.h>

namespace tuntap {
void InitTunOffload(Napi::Env env, Napi::Object exports);
}
