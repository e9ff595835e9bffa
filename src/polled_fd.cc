#include "polled_fd.h"

#include <unistd.h>

#include <cerrno>

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

int PolledFd::watching() const {
  return poll_ != nullptr && uv_is_active(reinterpret_cast<const uv_handle_t*>(poll_)) ? events_ : 0;
}

void PolledFd::Watch(int events) {
  if (poll_ == nullptr || events == watching()) return;
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
  int fd = Detach();
  if (fd >= 0) ::close(fd);
}

int PolledFd::Detach() {
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
  int fd = fd_;
  fd_ = -1;
  events_ = 0;
  return fd;
}

namespace {

struct CloseRequest {
  uv_fs_t req;
  napi_env env;
  napi_ref done;
  AddonData* addon;
};

void OnClosed(uv_fs_t* req) {
  auto* request = reinterpret_cast<CloseRequest*>(req);
  int err = req->result < 0 ? static_cast<int>(-req->result) : 0;
  uv_fs_req_cleanup(req);
  napi_env env = request->env;
  {
    RawHandleScope scope(env);
    napi_value done = nullptr;
    napi_value global = nullptr;
    napi_value code = nullptr;
    if (CanCallIntoJs(Napi::Env(env)) && napi_get_reference_value(env, request->done, &done) == napi_ok &&
        done != nullptr && napi_get_global(env, &global) == napi_ok && napi_create_int32(env, err, &code) == napi_ok) {
      // napi_make_callback wants an object as `this`; the callback ignores it.
      CallJs(Napi::Env(env), nullptr, global, done, {code});
    }
    napi_delete_reference(env, request->done);
  }
  AddonData* addon = request->addon;
  delete request;
  HandleClosed(addon);
}

}  // namespace

void CloseFdAsync(Napi::Env env, int fd, Napi::Function done) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  auto* request = new CloseRequest();
  request->env = env;
  request->addon = env.GetInstanceData<AddonData>();
  napi_create_reference(env, done, 1, &request->done);
  HandleClosing(request->addon);
  if (uv_fs_close(loop, &request->req, fd, OnClosed) < 0) {
    // Not queued: close it here after all, and report on the next turn like a queued close.
    request->req.result = ::close(fd) < 0 ? -errno : 0;
    OnClosed(&request->req);
  }
}

void CallJs(Napi::Env env, napi_async_context context, napi_value receiver, napi_value fn,
            std::initializer_list<napi_value> args, bool inScope) {
  if (fn == nullptr) return;
  napi_value result;
  napi_status status = inScope ? napi_call_function(env, receiver, fn, args.size(), args.begin(), &result)
                               : napi_make_callback(env, context, receiver, fn, args.size(), args.begin(), &result);
  if (status == napi_ok) return;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) return;
  napi_value exception;
  napi_get_and_clear_last_exception(env, &exception);
  if (CanCallIntoJs(env)) napi_fatal_exception(env, exception);
}

}  // namespace tuntap
