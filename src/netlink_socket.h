// NetlinkSocket: one NETLINK_ROUTE socket on the loop; JS sends whole requests and gets a
// wake-up's datagrams in one onData(batch, lengths) call. The constructor takes the OwnedFd
// over first thing; onError(errno, syscall) with ENOBUFS means multicast was lost, no more.
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
