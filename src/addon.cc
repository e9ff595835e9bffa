#include "addon.h"

#include <dlfcn.h>

#include "errno_error.h"
#include "netlink_socket.h"
#include "netns.h"
#include "owned_fd.h"
#include "tun_handle.h"
#include "tun_ioctl.h"
#include "tun_offload.h"
#include "tun_open.h"
#include "udp_socket.h"

namespace tuntap {

void TrackResource(Napi::Env env, NativeResource* resource) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr) data->live.insert(resource);
}

void UntrackResource(Napi::Env env, NativeResource* resource) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr) data->live.erase(resource);
}

void HandleClosing(AddonData* data) {
  if (data != nullptr) data->closing++;
}

void HandleClosed(AddonData* data) {
  if (data == nullptr) return;
  data->closing--;
  if (data->closing == 0 && data->tearingDown && data->cleanupHook != nullptr) {
    napi_async_cleanup_hook_handle hook = data->cleanupHook;
    data->cleanupHook = nullptr;
    napi_remove_async_cleanup_hook(hook);
  }
}

bool CanCallIntoJs(Napi::Env env) {
  napi_value object;
  if (napi_create_object(env, &object) != napi_ok) return false;
  return CanCallIntoJs(env, object);
}

bool CanCallIntoJs(Napi::Env env, napi_value object) {
  // N-API has no direct question for this; napi_define_properties runs the
  // same preamble as calls into JS (no pending exception, JS allowed) and,
  // with no properties, does nothing else.
  return object != nullptr && napi_define_properties(env, object, 0, nullptr) == napi_ok;
}

void ReportUncaught(Napi::Env env, const Napi::Error& error) {
  if (!CanCallIntoJs(env)) return;
  napi_value value = error.Value();
  if (value != nullptr) napi_fatal_exception(env, value);
}

namespace {

// Runs when the environment is torn down (process exit, worker exit): every
// fd and uv handle the user forgot to close is released, without calling JS,
// and teardown waits until libuv has run every close callback.
void ReleaseAll(napi_async_cleanup_hook_handle hook, void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  data->tearingDown = true;
  data->cleanupHook = hook;
  auto live = data->live;  // Release() untracks, so iterate over a copy
  for (NativeResource* resource : live) resource->Release();
  data->live.clear();
  if (data->closing == 0) {
    data->cleanupHook = nullptr;
    napi_remove_async_cleanup_hook(hook);
  }
}

// Keeps this shared object mapped for the life of the process: Node unloads an
// addon with its last environment, but V8 may still run a slab finalizer of
// ours after that, when the isolate frees the last ArrayBuffer over it.
void PinThisLibrary() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&PinThisLibrary), &info) != 0 && info.dli_fname != nullptr) {
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinThisLibrary();
  AddonData* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  napi_async_cleanup_hook_handle hook = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_add_async_cleanup_hook(env, ReleaseAll, data, &hook), exports);
  InitTunOpen(env, exports);
  InitTunOffload(env, exports);
  InitTunIoctl(env, exports);
  exports.Set("strerror", Napi::Function::New(env, Strerror, "strerror"));
  exports.Set("TunHandle", TunHandle::Init(env));
  exports.Set("tunFdInUse",
              Napi::Function::New(
                  env,
                  [](const Napi::CallbackInfo& info) -> Napi::Value {
                    return Napi::Boolean::New(info.Env(), TunHandle::OwnsFd(info[0].As<Napi::Number>().Int32Value()));
                  },
                  "tunFdInUse"));
  exports.Set("NetlinkSocket", NetlinkSocket::Init(env));
  exports.Set("NetnsFile", NetnsFile::Init(env));
  exports.Set("OwnedFd", OwnedFd::Init(env));
  exports.Set("UdpSocket", UdpSocket::Init(env));
  return exports;
}

}  // namespace
}  // namespace tuntap

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return tuntap::Init(env, exports); }

NODE_API_MODULE(tuntap, InitAddon)
