// PolledHandle<Derived>: what TunHandle and NetlinkSocket share as JS-visible wraps of a polled
// fd: the fd and its uv_poll (PolledFd), the JS callbacks, ref/unref/close/fd, and the guard every
// libuv callback goes through, which catches every C++ exception.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cerrno>
#include <initializer_list>
#include <new>
#include <vector>

#include "addon.h"
#include "polled_fd.h"

namespace tuntap {

template <typename Derived>
class PolledHandle : public Napi::ObjectWrap<Derived>, public NativeResource {
 public:
  PolledHandle(const Napi::CallbackInfo& info, const char* resourceName)
      : Napi::ObjectWrap<Derived>(info), asyncContext_(info.Env(), resourceName) {}

  ~PolledHandle() override { Release(); }

  // From the destructor and the environment's cleanup hook: no JS here.
  void Release() override {
    if (io_.fd() < 0) return;
    static_cast<Derived*>(this)->BeforeRelease();
    io_.Close();
    UntrackResource(this->Env(), this);
  }

 protected:
  using Base = PolledHandle<Derived>;

  // The methods every handle has, for Derived::Init's DefineClass list.
  static void AddCommonMethods(std::vector<Napi::ClassPropertyDescriptor<Derived>>& methods) {
    using Wrap = Napi::ObjectWrap<Derived>;
    using Method = Napi::Value (Derived::*)(const Napi::CallbackInfo&);
    methods.push_back(Wrap::InstanceMethod("ref", static_cast<Method>(&Base::JsRef)));
    methods.push_back(Wrap::InstanceMethod("unref", static_cast<Method>(&Base::JsUnref)));
    methods.push_back(Wrap::InstanceMethod("close", static_cast<Method>(&Base::JsClose)));
    methods.push_back(Wrap::InstanceAccessor("fd", static_cast<Method>(&Base::JsFd), nullptr));
  }

  // Takes the fd (closed if this fails) and starts tracking it for teardown.
  void Adopt(Napi::Env env, int fd) {
    io_.Init(env, fd, this, OnPoll<&Derived::OnEvents>);
    TrackResource(env, this);
  }

  // Keeps `callbacks` on the wrapper (strongly, from JS) and here weakly: they capture the handle's
  // owner, so strong native references would keep it, and this wrapper, from ever being collected.
  void SetCallbacks(const Napi::CallbackInfo& info, std::initializer_list<Napi::Function> callbacks) {
    Napi::Array held = Napi::Array::New(info.Env(), callbacks.size());
    uint32_t i = 0;
    callbacks_.clear();
    for (const Napi::Function& fn : callbacks) {
      held.Set(i++, fn);
      callbacks_.push_back(Napi::Weak(fn));
    }
    info.This().As<Napi::Object>().DefineProperty(Napi::PropertyDescriptor::Value("callbacks", held, napi_default));
  }

  // Calls callback `which` with this wrapper as `this`; a no-op once closed.
  // inScope: inside a callback scope opened with AsyncContext() (CallJs).
  void Call(size_t which, std::initializer_list<napi_value> args, bool inScope = false) {
    if (which >= callbacks_.size() || callbacks_[which].IsEmpty()) return;
    CallJs(this->Env(), asyncContext_, this->Value(), callbacks_[which].Value(), args, inScope);
  }

  // The wrapper object, through the raw call: no C++ exception whatever
  // state the environment is in (null if it was collected).
  napi_value Wrapper() {
    napi_value value = nullptr;
    napi_get_reference_value(this->Env(), static_cast<napi_ref>(*this), &value);
    return value;
  }

  // CanCallIntoJs, asked of the wrapper object: nothing is allocated, which
  // matters on a path taken several times per wake-up.
  bool JsAllowed() { return CanCallIntoJs(this->Env(), Wrapper()); }

  // The async context Call() runs callbacks in, for a callback scope that
  // spans several calls (Node drains nextTicks and microtasks only when the
  // outermost scope closes).
  napi_async_context AsyncContext() const { return asyncContext_; }

  // Watch these events on io_; the wrapper is held strongly while anything
  // is watched, on io_ or on the second fd.
  void Watch(int events) { Watch(io_, events); }
  void Watch(PolledFd& fd, int events) {
    fd.Watch(events);
    SetStrong(io_.watching() != 0 || (second_ != nullptr && second_->watching() != 0));
  }

  // A second polled fd of Derived's (TunHandle's reader thread's eventfd):
  // watched, ref'd and unref'd with io_ from here on.
  void AlsoPoll(PolledFd* second) { second_ = second; }

  // The guard every libuv callback goes through, calling Derived's
  // Handler(status, events): OnEvents for io_, others for Derived's own.
  template <void (Derived::*Handler)(int, int)>
  static void OnPoll(uv_poll_t* poll, int status, int events) {
    auto* self = static_cast<Derived*>(poll->data);
    if (self == nullptr) return;
    napi_env env = self->Env();
    RawHandleScope scope(env);
    // A local handle on the wrapper keeps it (and so `self`) alive through
    // whatever the callbacks do, close() and dropping the last reference included.
    napi_value keep = self->Wrapper();
    if (!CanCallIntoJs(env, keep)) {
      // The environment is going away (worker.terminate()): its cleanup hook
      // releases the fd; until then, stop waking up for it.
      if (self->second_ != nullptr) self->Watch(*self->second_, 0);
      self->Watch(0);
      return;
    }
    try {
      (self->*Handler)(status, events);
    } catch (const Napi::Error& error) {
      ReportUncaught(self->Env(), error);
    } catch (const std::bad_alloc&) {
      self->OnNativeFailure(ENOMEM);
    } catch (...) {
      self->OnNativeFailure(EIO);
    }
  }

  PolledFd io_;

 private:
  void SetStrong(bool strong) {
    if (strong == strong_) return;
    strong_ = strong;
    if (strong) {
      Napi::ObjectWrap<Derived>::Ref();
    } else {
      Napi::ObjectWrap<Derived>::Unref();
    }
  }

  Napi::Value JsRef(const Napi::CallbackInfo& info) {
    io_.Ref();
    if (second_ != nullptr) second_->Ref();
    return info.Env().Undefined();
  }

  Napi::Value JsUnref(const Napi::CallbackInfo& info) {
    io_.Unref();
    if (second_ != nullptr) second_->Unref();
    return info.Env().Undefined();
  }

  // close(done?): idempotent. Drops the callbacks too, so a closed handle
  // holds nothing alive from the native side. With `done`, the fd is closed
  // on the thread pool and done(errno) called once it is.
  Napi::Value JsClose(const Napi::CallbackInfo& info) {
    if (io_.fd() >= 0 && info.Length() > 0 && info[0].IsFunction()) {
      static_cast<Derived*>(this)->BeforeRelease();
      UntrackResource(this->Env(), this);
      int fd = io_.Detach();
      CloseFdAsync(info.Env(), fd, info[0].As<Napi::Function>());
    } else {
      Release();
    }
    SetStrong(false);
    callbacks_.clear();
    static_cast<Derived*>(this)->AfterClose();
    return info.Env().Undefined();
  }

  Napi::Value JsFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), io_.fd()); }

  Napi::AsyncContext asyncContext_;
  std::vector<Napi::FunctionReference> callbacks_;
  bool strong_ = false;
  PolledFd* second_ = nullptr;
};

}  // namespace tuntap
