// UdpSocket: one non-blocking UDP socket driven by a uv_poll on the
// environment's loop, carrying datagrams in batches: recvmmsg on each
// wake-up, sendmmsg per send call, so JS crosses once per batch, not once per
// datagram. It knows nothing of tunnels: lib/tunnel/udp.ts holds the policy.
//
//   UdpSocket.open(family, address, port, receiveBuffer, sendBuffer) -> { fd, port }
//                          a socket made and bound here (0 buffers: the default)
//   UdpSocket.inspect(fd, dup) -> { type, domain, port, fd }
//                          a socket the user has: SO_TYPE, 4/6/0, bound port;
//                          fd: a close-on-exec dup of it when `dup`
//   UdpSocket.segment(slab, descriptors, count, gap) -> { buffer, descriptors, group, count, malformed }
//                          packets read from an offload device cut into plain
//                          IP packets (see lib/packet/gso.ts), gap bytes before each
//   new UdpSocket(fd, maxDatagram, maxBatch, headerLength, gro, onData, onError)
//                          owns fd from its first line; headerLength bytes
//                          lead every datagram both ways (sent from `headers`,
//                          received into them)
//   onData(batch, descriptors, count, headers, addresses, segments)
//       batch: Buffer, the payloads; descriptors: Uint32Array of [offset, length]
//       pairs into it; headers: the first headerLength bytes of each datagram,
//       back to back (null when 0); addresses: 28 bytes of sockaddr per datagram;
//       segments: Uint32Array, the GRO segment size of each (0: one datagram)
//   onError(errno, syscall)    a receive error; the socket goes on
//   connect(peer)              one peer only from here on: the kernel keeps its
//                              route (no lookup per datagram) and filters senders
//   deliverTo(fd, maxPacket)   from here on, datagrams go straight into a dup of
//                              the device fd `fd` with a write(2) each, onData not
//                              called (but for the rest of a batch after a write
//                              error other than EAGAIN); -1: stop and close the dup
//   delivered -> [packets, bytes, short, tooBig, deviceFull]   what deliverTo did
//   sendBatch(buffer, descriptors, start, count, headers, peers, peerIndex, segmentSizes, coalesce)
//       -> datagrams handled; fewer than count: `lastError` says why (EAGAIN: the
//       socket buffer is full). Nothing is queued here: what was not sent is the
//       caller's to count as dropped, as the kernel would drop it. coalesce: runs
//       to one peer of one length go as UDP_SEGMENT messages (plain ones for good
//       once the kernel refuses one); the datagrams on the wire are the same.
//   gsoMessages                the coalesced messages sent so far
//
// Memory: every batch is copied out of the socket's own receive slots into a
// fresh Buffer, and sendBatch reads JS memory only during the call, so user
// code can keep, transfer or detach anything it was given.
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
