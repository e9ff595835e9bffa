// Errors thrown by the native core carry only what JS needs to build a
// Node-style error: `errno` (positive, as the kernel returned it) and
// `syscall`. Messages, codes and hints are policy and live in lib/internal/errors.ts.
#pragma once
#include <napi.h>

namespace tuntap {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall);

// strerror(errno) -> the C library's description, for messages built in JS.
Napi::Value Strerror(const Napi::CallbackInfo& info);

}  // namespace tuntap
