// NetlinkSocket: one NETLINK_ROUTE socket driven by a uv_poll on the
// environment's loop. It knows nothing about the messages: JS sends whole
// requests with send() and gets every datagram the kernel queued, a batch per
// wake-up, in one call of the `onData` callback bound at construction.
//
//   NetlinkSocket.open(groups, receiveBufferSize, netns?) -> Promise<{ fd: OwnedFd, portId }>
//                                              the socket made and bound on the
//                                              thread pool (in `netns` if given)
//   NetlinkSocket.openSync(...)                the same on the JS thread
//   new NetlinkSocket(fd: OwnedFd, portId, onData, onError)
//                                              takes the fd over first thing
//   onData(batch: Buffer, lengths: number[])  datagrams back to back, in order
//   onError(errno, syscall)                   ENOBUFS: multicast messages were
//                                              lost (not fatal; the socket
//                                              goes on); others: recv broke
//   receiveBufferSize                          what the kernel granted (SO_RCVBUF)
#pragma once
#include <napi.h>
#include <uv.h>

#include <vector>

#include "polled_handle.h"

namespace tuntap {

class NetlinkSocket : public PolledHandle<NetlinkSocket> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NetlinkSocket(const Napi::CallbackInfo& info);
  static Napi::Value Open(const Napi::CallbackInfo& info);
  static Napi::Value OpenSync(const Napi::CallbackInfo& info);

  // PolledHandle's hooks.
  void OnEvents(int status, int events);
  void OnNativeFailure(int err);
  void BeforeRelease() {}
  void AfterClose() {}

 private:
  enum Callback { kOnData, kOnError };

  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value GetPortId(const Napi::CallbackInfo& info);
  Napi::Value GetReceiveBufferSize(const Napi::CallbackInfo& info);

  int ReceiveBatch(Napi::Env env);
  void ReportError(int err);

  uint32_t portId_ = 0;
  int errorWakeups_ = 0;  // EPOLLERR wake-ups in a row that recv explained not
  std::vector<uint8_t> buffer_;
  std::vector<uint8_t> batch_;
};

}  // namespace tuntap
