// TunHandle: one open TUN/TAP queue fd, driven by a uv_poll on the
// environment's own loop (so it works in worker_threads too).
//
// Reads: on each wake-up the handle reads packets until EAGAIN or a bound, into
// a slab of memory that JS owns (a Buffer), and calls the JS `onRead` once for
// the whole batch with the slab and a count; offsets and lengths are in a
// Uint32Array shared with JS at construction, so a batch allocates nothing in
// native code but, now and then, a fresh slab. A region of a slab is handed
// out once and never written again, so JS can give users views, not copies.
//
// Writes: synchronous non-blocking write(2) per packet, one crossing for a
// whole batch; on EAGAIN JS asks to be told (onWritable) when to go on.
#pragma once
#include <napi.h>
#include <uv.h>

#include <memory>

#include "addon.h"
#include "polled_fd.h"

namespace tuntap {

class TunHandle : public Napi::ObjectWrap<TunHandle>, public NativeResource {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit TunHandle(const Napi::CallbackInfo& info);
  ~TunHandle() override;
  void Release() override;

 private:
  Napi::Value StartReading(const Napi::CallbackInfo& info);
  Napi::Value StopReading(const Napi::CallbackInfo& info);
  Napi::Value SetSlabReuse(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value WriteViews(const Napi::CallbackInfo& info);
  Napi::Value WriteSlab(const Napi::CallbackInfo& info);
  Napi::Value WaitWritable(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* poll, int status, int events);
  void UpdatePoll();
  void ReadBatch();
  void NewSlab(Napi::Env env);
  void Call(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args);

  PolledFd io_;
  bool reading_ = false;
  bool waitingWritable_ = false;

  uint32_t maxPacketSize_;  // room reserved for one read
  uint32_t maxBatch_;       // packets per wake-up at most
  size_t slabSize_;
  size_t slabUsed_ = 0;
  bool reuseSlab_ = false;  // JS promised not to keep views past the callback
  uint8_t* slabData_ = nullptr;
  Napi::ObjectReference slab_;

  uint32_t* descriptors_ = nullptr;  // [offset, length] pairs, maxBatch_ of them
  Napi::ObjectReference descriptorsRef_;
  int32_t* writeResults_ = nullptr;
  uint32_t writeResultsCapacity_ = 0;
  Napi::ObjectReference writeResultsRef_;

  Napi::FunctionReference onRead_;
  Napi::FunctionReference onWritable_;
  Napi::FunctionReference onError_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
};

}  // namespace tuntap
