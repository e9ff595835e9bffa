// Per-environment bookkeeping shared by the native classes.
#pragma once
#include <napi.h>

#include <cstddef>
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

// One per environment, as its instance data. The cleanup hook is async because uv_close frees a
// handle on a later loop turn: a sync hook would let a worker unload the addon before that runs.
struct AddonData {
  std::unordered_set<NativeResource*> live;
  napi_async_cleanup_hook_handle cleanupHook = nullptr;
  bool tearingDown = false;
  size_t closing = 0;                    // uv handles whose close callback has not run yet
  Napi::FunctionReference ownedFdClass;  // OwnedFd::New makes them from native code
};

// Track / untrack a resource for the environment's cleanup hook.
void TrackResource(Napi::Env env, NativeResource* resource);
void UntrackResource(Napi::Env env, NativeResource* resource);

// Book-keeping around uv_close(): call HandleClosing() before it and
// HandleClosed() from its callback; teardown waits for the count to drop to 0.
void HandleClosing(AddonData* data);
void HandleClosed(AddonData* data);

// Whether this environment may still run JS: a terminated worker's loop turns
// on after JS is stopped, and a libuv callback that creates JS values then
// fails fatally in node-addon-api, so such callbacks ask first.
bool CanCallIntoJs(Napi::Env env);
// The same, asked of an object that exists already (a wrap's own): nothing is
// allocated.
bool CanCallIntoJs(Napi::Env env, napi_value object);

// A handle scope opened with the raw N-API call: node-addon-api's would throw
// a C++ exception when the environment is stopping, and none may leave a
// libuv callback.
class RawHandleScope {
 public:
  explicit RawHandleScope(napi_env env) : env_(env) {
    if (napi_open_handle_scope(env, &scope_) != napi_ok) scope_ = nullptr;
  }
  ~RawHandleScope() {
    if (scope_ != nullptr) napi_close_handle_scope(env_, scope_);
  }
  RawHandleScope(const RawHandleScope&) = delete;
  RawHandleScope& operator=(const RawHandleScope&) = delete;

 private:
  napi_env env_;
  napi_handle_scope scope_ = nullptr;
};

// For the catch blocks of libuv callbacks: a JS exception that a native call
// raised is reported as uncaught (as Node does for its own handles) while the
// environment can still run JS; otherwise it is dropped with the environment.
void ReportUncaught(Napi::Env env, const Napi::Error& error);

}  // namespace tuntap
