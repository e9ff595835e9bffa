// Per-environment bookkeeping shared by the native classes.
#pragma once
#include <napi.h>

#include <unordered_set>

namespace tuntap {

// Something that owns an fd or a uv handle and must let go of it when the
// environment (the main thread or a worker) shuts down, even if JS never
// called close(). Release() runs no JS.
class NativeResource {
 public:
  virtual ~NativeResource() = default;
  virtual void Release() = 0;
};

struct AddonData {
  std::unordered_set<NativeResource*> live;
};

// Track / untrack a resource for the environment's cleanup hook.
void TrackResource(Napi::Env env, NativeResource* resource);
void UntrackResource(Napi::Env env, NativeResource* resource);

// Whether this environment may still run JS. A worker being terminated (and
// any environment being torn down) keeps turning its loop for a while after
// JS is stopped; a libuv callback that then creates JS values makes
// node-addon-api fail fatally, so such callbacks ask first.
bool CanCallIntoJs(Napi::Env env);


}  // namespace tuntap
