#include "errno_error.h"

#include <cstring>

namespace tuntap {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall) {
  Napi::Error error = Napi::Error::New(env, std::string(syscall) + ": " + std::strerror(err));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

Napi::Value Strerror(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), std::strerror(info[0].As<Napi::Number>().Int32Value()));
}

}  // namespace tuntap
