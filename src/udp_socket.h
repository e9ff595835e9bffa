// UdpSocket: one non-blocking UDP socket polled on the loop, datagrams in batches (recvmmsg a
// wake-up, sendmmsg a call); its JS interface is typed in lib/internal/native.ts, its policy in lib/tunnel.
// Batches are copied into fresh Buffers and sends read JS memory only during the call: JS may detach any.
#pragma once
#include <napi.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <vector>

#include "polled_handle.h"

namespace tuntap {

class UdpSocket : public PolledHandle<UdpSocket> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit UdpSocket(const Napi::CallbackInfo& info);
  static Napi::Value Open(const Napi::CallbackInfo& info);
  static Napi::Value Inspect(const Napi::CallbackInfo& info);
  static Napi::Value Segment(const Napi::CallbackInfo& info);

  // PolledHandle's hooks.
  void OnEvents(int status, int events);
  void OnNativeFailure(int err);
  void BeforeRelease() { StopDelivery(); }
  void AfterClose() {}

 private:
  enum Callback { kOnData, kOnError };

  Napi::Value SendBatch(const Napi::CallbackInfo& info);
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value GetLastError(const Napi::CallbackInfo& info);
  Napi::Value GetLocalPort(const Napi::CallbackInfo& info);
  Napi::Value GetTruncated(const Napi::CallbackInfo& info);
  Napi::Value GetGsoMessages(const Napi::CallbackInfo& info);
  Napi::Value DeliverTo(const Napi::CallbackInfo& info);
  Napi::Value GetDelivered(const Napi::CallbackInfo& info);
  void StopDelivery();

  // Reads one recvmmsg batch and hands it to JS; returns the errno that
  // stopped it (EAGAIN when the socket is empty), 0 when the batch was full.
  int ReceiveBatch(Napi::Env env);
  // Writes datagrams of the batch just received into deviceFd_; returns the
  // index of the first one JS must handle (got: none).
  int Deliver(int got);
  // Hands datagrams from..got-1 of the batch just received to onData.
  void CallOnData(Napi::Env env, int from, int got);
  void ReportError(int err, const char* syscall);

  uint32_t maxDatagram_;
  uint32_t maxBatch_;
  uint32_t headerLength_;
  int errorWakeups_ = 0;
  int lastError_ = 0;
  bool connected_ = false;
  double truncated_ = 0;        // datagrams larger than a slot, dropped
  double gsoMessages_ = 0;      // coalesced sends that carried several datagrams
  bool segmentOffload_ = true;  // false once the kernel refused a coalesced send
  bool receiveReady_ = false;   // messages_ hold the receive slots' set-up
  uint32_t receiveUsed_ = 0;    // how many of them the last recvmmsg may have changed
  int deviceFd_ = -1;           // ours (a dup): the device may close its own first
  uint32_t deviceMax_ = 0;
  double delivered_[5] = {0, 0, 0, 0, 0};  // as `delivered` lists them
  std::vector<uint8_t> slots_;
  std::vector<uint8_t> headers_;
  std::vector<sockaddr_in6> names_;
  std::vector<uint8_t> control_;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iovecs_;
  std::vector<uint8_t> sendControl_;
};

}  // namespace tuntap
