// NetlinkSocket: one NETLINK_ROUTE socket driven by a uv_poll on the
// environment's loop. It knows nothing about the messages: JS sends whole
// requests with send() and gets every datagram the kernel queued, a batch per
// wake-up, in one call of the `onData` callback bound at construction.
//
//   new NetlinkSocket(groups, receiveBufferSize, onData, onError)
//   onData(batch: Buffer, lengths: number[])  datagrams back to back, in order
//   onError(errno, syscall)                   ENOBUFS: multicast messages were
//                                              lost (not fatal); others: recv broke
#pragma once
#include <napi.h>
#include <uv.h>

#include <memory>
#include <vector>

#include "addon.h"
#include "polled_fd.h"

namespace tuntap {

class NetlinkSocket : public Napi::ObjectWrap<NetlinkSocket>, public NativeResource {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NetlinkSocket(const Napi::CallbackInfo& info);
  ~NetlinkSocket() override;
  void Release() override;

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetPortId(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);

  static void OnPoll(uv_poll_t* poll, int status, int events);
  void ReceiveBatch();
  void Call(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args);

  PolledFd io_;
  uint32_t portId_ = 0;
  std::vector<uint8_t> buffer_;
  Napi::FunctionReference onData_;
  Napi::FunctionReference onError_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
};

}  // namespace tuntap
