#include "polled_fd.h"

#include <unistd.h>

#include "errno_error.h"

namespace tuntap {

void PolledFd::Init(Napi::Env env, int fd, void* owner, uv_poll_cb callback) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto* poll = new uv_poll_t;
  int rc = uv_poll_init(loop, poll, fd);
  if (rc != 0) {
    delete poll;
    ::close(fd);
    throw ErrnoError(env, -rc, "uv_poll_init");
  }
  poll->data = owner;
  fd_ = fd;
  poll_ = poll;
  callback_ = callback;
  addon_ = env.GetInstanceData<AddonData>();
}

void PolledFd::Watch(int events) {
  if (poll_ == nullptr || events == events_) return;
  if (events == 0) {
    uv_poll_stop(poll_);
  } else {
    uv_poll_start(poll_, events, callback_);
  }
  events_ = events;
}

void PolledFd::Ref() {
  if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
}

void PolledFd::Unref() {
  if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
}

void PolledFd::Close() {
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    // No poll callback comes after uv_close, so data now tells the close
    // callback whom to tell that the handle is gone.
    poll_->data = addon_;
    HandleClosing(addon_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) {
      auto* addon = static_cast<AddonData*>(h->data);
      delete reinterpret_cast<uv_poll_t*>(h);
      HandleClosed(addon);
    });
    poll_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  events_ = 0;
}

void CallJs(Napi::Env env, napi_async_context context, napi_value receiver, napi_value fn,
            std::initializer_list<napi_value> args) {
  if (fn == nullptr) return;
  napi_value result;
  if (napi_make_callback(env, context, receiver, fn, args.size(), args.begin(), &result) == napi_ok) return;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) return;
  napi_value exception;
  napi_get_and_clear_last_exception(env, &exception);
  if (CanCallIntoJs(env)) napi_fatal_exception(env, exception);
}

}  // namespace tuntap
