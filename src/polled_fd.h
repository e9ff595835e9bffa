// PolledFd: a file descriptor a native handle owns, watched by a uv_poll on
// the environment's own loop (napi_get_uv_event_loop, never the default loop,
// so it works in worker_threads). TunHandle and NetlinkSocket each hold one.
#pragma once
#include <napi.h>
#include <uv.h>

#include <initializer_list>

#include "addon.h"

namespace tuntap {

class PolledFd {
 public:
  PolledFd() = default;
  ~PolledFd() { Close(); }
  PolledFd(const PolledFd&) = delete;
  PolledFd& operator=(const PolledFd&) = delete;

  // Takes ownership of fd (it is closed if this fails) and makes the poll
  // handle; `owner` comes back as poll->data in `callback`. Throws ErrnoError.
  void Init(Napi::Env env, int fd, void* owner, uv_poll_cb callback);
  // The events to wake up for (UV_READABLE | UV_WRITABLE); 0 stops polling.
  void Watch(int events);
  // What is watched now: 0 once libuv stopped the handle, as it does before
  // it reports an error status (EPOLLERR), so that the next Watch() starts
  // it again.
  int watching() const;
  void Ref();
  void Unref();
  // Idempotent. uv_poll_stop takes the fd out of epoll at once, so it may be
  // closed right after; the uv_poll_t is freed by uv_close's callback, which
  // may outlive the owner and which environment teardown waits for.
  void Close();
  // Like Close(), but hands the fd over instead of closing it: -1 when closed already.
  int Detach();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  uv_poll_t* poll_ = nullptr;
  uv_poll_cb callback_ = nullptr;
  AddonData* addon_ = nullptr;
  int events_ = 0;
};

// Closes fd on the thread pool, then done(errno) on the loop: closing a TUN queue waits for the
// rtnl lock and an RCU grace period. The environment's teardown waits for it like for a handle.
void CloseFdAsync(Napi::Env env, int fd, Napi::Function done);

// Calls a JS function from a libuv callback through raw N-API: node-addon-api would abort when a
// stopping environment cannot create its error. inScope: the caller's callback scope already set
// the async context and drains nextTicks once, so no second scope per call.
void CallJs(Napi::Env env, napi_async_context context, napi_value receiver, napi_value fn,
            std::initializer_list<napi_value> args, bool inScope = false);

}  // namespace tuntap
