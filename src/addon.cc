#include "addon.h"

#include "errno_error.h"
#include "netlink_socket.h"
#include "netns.h"
#include "tun_handle.h"
#include "tun_offload.h"
#include "tun_ioctl.h"
#include "tun_open.h"

namespace tuntap {

void TrackResource(Napi::Env env, NativeResource* resource) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr) data->live.insert(resource);
}

void UntrackResource(Napi::Env env, NativeResource* resource) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr) data->live.erase(resource);
}

bool CanCallIntoJs(Napi::Env env) {
  // N-API has no direct question for this; napi_define_properties runs the
  // same preamble as calls into JS (no pending exception, JS allowed) and,
  // with no properties, does nothing else.
  napi_value object;
  if (napi_create_object(env, &object) != napi_ok) return false;
  return napi_define_properties(env, object, 0, nullptr) == napi_ok;
}

namespace {

// Runs when the environment is torn down (process exit, worker exit): every
// fd and uv handle the user forgot to close is released, without calling JS.
void ReleaseAll(AddonData* data) {
  auto live = data->live;  // Release() untracks, so iterate over a copy
  for (NativeResource* resource : live) resource->Release();
  data->live.clear();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  env.AddCleanupHook([data]() { ReleaseAll(data); });
  InitTunOpen(env, exports);
  InitTunOffload(env, exports);
  InitTunIoctl(env, exports);
  exports.Set("strerror", Napi::Function::New(env, Strerror, "strerror"));
  exports.Set("TunHandle", TunHandle::Init(env));
  exports.Set("NetlinkSocket", NetlinkSocket::Init(env));
  exports.Set("NetnsFile", NetnsFile::Init(env));
  return exports;
}

}  // namespace
}  // namespace tuntap

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return tuntap::Init(env, exports);
}

NODE_API_MODULE(tuntap, InitAddon)
