#include "netlink_socket.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "errno_error.h"
#include "netns.h"
#include "owned_fd.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

namespace tuntap {
namespace {

// The kernel never builds a netlink datagram larger than 32 KiB for a dump
// (netlink_recvmsg caps max_recvmsg_len there); twice that leaves room for
// the rare bigger unicast reply. A larger one arrives cut and is reported.
constexpr size_t kDatagramSize = 64 * 1024;
// Datagrams handed to JS per wake-up at most: the poll is level-triggered,
// so what is left wakes us again next turn without starving the loop.
constexpr int kMaxBatch = 64;

// A bound NETLINK_ROUTE socket, or why there is none. No N-API in here: it
// runs on the thread pool for Netlink.open() and Netlink.watch(), and on the
// JS thread only for the one caller that cannot wait (openSync).
struct CreatedSocket {
  int fd = -1;
  uint32_t portId = 0;
  int err = 0;
  const char* syscall = "";
};

CreatedSocket CreateSocket(uint32_t groups, int receiveBufferSize, const NetnsTarget& netns) {
  CreatedSocket r;
  {
    // A netlink socket speaks for the namespace it was created in, for life:
    // only its creation needs to happen there.
    NetnsGuard guard(netns);
    if (!guard.ok()) {
      r.err = guard.error();
      r.syscall = guard.syscall();
      return r;
    }
    r.fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (r.fd < 0) return Failed(r, "socket(AF_NETLINK)");
  }
  // A watcher must not lose a burst of events: SO_RCVBUFFORCE passes the
  // rmem_max cap with CAP_NET_ADMIN; otherwise SO_RCVBUF gives what it can,
  // and receiveBufferSize reports which.
  if (::setsockopt(r.fd, SOL_SOCKET, SO_RCVBUFFORCE, &receiveBufferSize, sizeof(receiveBufferSize)) < 0) {
    ::setsockopt(r.fd, SOL_SOCKET, SO_RCVBUF, &receiveBufferSize, sizeof(receiveBufferSize));
  }
  // Extended ACKs carry the kernel's own words for an error ("MTU too
  // low"); capped ACKs keep an error from echoing our whole request. Both
  // are optional: an old kernel that refuses them still answers.
  int one = 1;
  ::setsockopt(r.fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  ::setsockopt(r.fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));

  struct sockaddr_nl address;
  std::memset(&address, 0, sizeof(address));
  address.nl_family = AF_NETLINK;
  address.nl_groups = groups;  // nl_pid 0: the kernel picks a unique port id
  if (::bind(r.fd, reinterpret_cast<struct sockaddr*>(&address), sizeof(address)) < 0) {
    return Failed(r, "bind(AF_NETLINK)");
  }
  socklen_t length = sizeof(address);
  if (::getsockname(r.fd, reinterpret_cast<struct sockaddr*>(&address), &length) < 0) {
    return Failed(r, "getsockname(AF_NETLINK)");
  }
  r.portId = address.nl_pid;
  return r;
}

// { fd: OwnedFd, portId }. The OwnedFd owns created->fd from the moment it
// exists (see owned_fd.h); until then it stays the caller's.
Napi::Object Created(Napi::Env env, CreatedSocket* created) {
  Napi::Object fd = OwnedFd::New(env, created->fd);
  created->fd = -1;
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", fd);
  result.Set("portId", created->portId);
  return result;
}

// CreateSocket on the libuv thread pool: with a namespace it is a setns()
// pair around socket(), which must not stall the event loop.
class CreateWorker : public Napi::AsyncWorker {
 public:
  CreateWorker(Napi::Env env, uint32_t groups, int receiveBufferSize, NetnsTarget netns)
      : Napi::AsyncWorker(env, "NetlinkSocketOpen"),
        groups_(groups),
        receiveBufferSize_(receiveBufferSize),
        netns_(std::move(netns)),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  // An fd no OwnedFd took (JS stopped before OnOK made one) is closed here.
  ~CreateWorker() override {
    if (created_.fd >= 0) ::close(created_.fd);
  }
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override { created_ = CreateSocket(groups_, receiveBufferSize_, netns_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (created_.err != 0) {
      deferred_.Reject(ErrnoError(env, created_.err, created_.syscall).Value());
      return;
    }
    deferred_.Resolve(Created(env, &created_));
  }

 private:
  uint32_t groups_;
  int receiveBufferSize_;
  NetnsTarget netns_;
  CreatedSocket created_;
  Napi::Promise::Deferred deferred_;
};

}  // namespace

Napi::Function NetlinkSocket::Init(Napi::Env env) {
  std::vector<Napi::ClassPropertyDescriptor<NetlinkSocket>> methods = {
      InstanceMethod<&NetlinkSocket::Send>("send"),
      InstanceAccessor<&NetlinkSocket::GetPortId>("portId"),
      InstanceAccessor<&NetlinkSocket::GetReceiveBufferSize>("receiveBufferSize"),
      StaticMethod<&NetlinkSocket::Open>("open"),
      StaticMethod<&NetlinkSocket::OpenSync>("openSync"),
  };
  AddCommonMethods(methods);
  return DefineClass(env, "NetlinkSocket", methods);
}

// open(groups, receiveBufferSize, netns?) -> Promise<{ fd, portId }>
Napi::Value NetlinkSocket::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t groups = info[0].As<Napi::Number>().Uint32Value();
  int receiveBufferSize = info[1].As<Napi::Number>().Int32Value();
  auto* worker = new CreateWorker(env, groups, receiveBufferSize, NetnsArg(info, 2));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// openSync(groups, receiveBufferSize, netns?) -> { fd, portId }: the same on
// the JS thread, for a caller that must be subscribed before it returns.
Napi::Value NetlinkSocket::OpenSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t groups = info[0].As<Napi::Number>().Uint32Value();
  int receiveBufferSize = info[1].As<Napi::Number>().Int32Value();
  CreatedSocket created = CreateSocket(groups, receiveBufferSize, NetnsArg(info, 2));
  if (created.err != 0) throw ErrnoError(env, created.err, created.syscall);
  try {
    return Created(env, &created);
  } catch (...) {
    if (created.fd >= 0) ::close(created.fd);
    throw;
  }
}

NetlinkSocket::NetlinkSocket(const Napi::CallbackInfo& info) : PolledHandle<NetlinkSocket>(info, "NetlinkSocket") {
  Napi::Env env = info.Env();
  // The fd is ours from this line: io_ closes it if anything below throws
  // (and Adopt closes it if it fails).
  Adopt(env, OwnedFd::Take(env, info[0]));
  portId_ = info[1].As<Napi::Number>().Uint32Value();
  SetCallbacks(info, {info[2].As<Napi::Function>(), info[3].As<Napi::Function>()});
  buffer_.resize(kDatagramSize);
  Watch(UV_READABLE);
}

void NetlinkSocket::ReportError(int err) {
  if (io_.fd() < 0 || !JsAllowed()) return;
  Call(kOnError, {Napi::Number::New(Env(), err), Napi::String::New(Env(), "recv")});
}

void NetlinkSocket::OnNativeFailure(int err) {
  Watch(0);
  ReportError(err);
}

void NetlinkSocket::OnEvents(int status, int events) {
  // EPOLLERR (status < 0) is a pending socket error (ENOBUFS after an overrun)
  // that ReceiveBatch's recv picks up and clears. libuv stopped the poll
  // before telling us, so it is started again below, or nothing is heard again.
  if ((events & UV_READABLE) == 0 && status >= 0) return;
  int error = ReceiveBatch(Env());
  if (io_.fd() < 0) return;  // a callback closed the socket
  if (status < 0) {
    // An error recv did not explain would wake us at once, for ever: give up after a few.
    if (error == 0 && ++errorWakeups_ < 8) {
      Watch(UV_READABLE);
      return;
    }
    Watch(0);
    if (error == 0) ReportError(EIO);
    return;
  }
  errorWakeups_ = 0;
}

// Reads up to kMaxBatch datagrams, hands them to JS, and reports ENOBUFS
// (events lost, not fatal) and any other error; returns that other error or 0.
int NetlinkSocket::ReceiveBatch(Napi::Env env) {
  batch_.clear();
  std::vector<uint32_t> lengths;
  int error = 0;
  bool lost = false;
  for (int i = 0; i < kMaxBatch && io_.fd() >= 0; i++) {
    // MSG_TRUNC makes recv return the datagram's real length, so a cut one is seen.
    ssize_t n = ::recv(io_.fd(), buffer_.data(), buffer_.size(), MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The kernel dropped multicast messages because our queue was full. The
      // socket stays usable; JS decides how to resynchronise.
      if (errno == ENOBUFS) {
        lost = true;
        continue;
      }
      if (errno != EAGAIN) error = errno;
      break;
    }
    size_t got = std::min(static_cast<size_t>(n), buffer_.size());
    batch_.insert(batch_.end(), buffer_.data(), buffer_.data() + got);
    lengths.push_back(static_cast<uint32_t>(got));
    if (static_cast<size_t>(n) > buffer_.size()) error = EMSGSIZE;
  }
  if (!lengths.empty()) {
    Napi::Array jsLengths = Napi::Array::New(env, lengths.size());
    for (uint32_t i = 0; i < lengths.size(); i++) jsLengths.Set(i, Napi::Number::New(env, lengths[i]));
    Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::Copy(env, batch_.data(), batch_.size());
    Call(kOnData, {data, jsLengths});
  }
  if (lost) ReportError(ENOBUFS);
  if (error != 0) ReportError(error);
  return error == EMSGSIZE ? 0 : error;
}

// send(request: Uint8Array) -> bytes sent, or -errno. To the kernel (port 0):
// netlink processes a request inside sendmsg, so this never waits.
Napi::Value NetlinkSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (io_.fd() < 0) return Napi::Number::New(env, -EBADF);
  auto request = info[0].As<Napi::Uint8Array>();
  ssize_t n;
  do {
    n = ::send(io_.fd(), request.Data(), request.ByteLength(), 0);
  } while (n < 0 && errno == EINTR);
  return Napi::Number::New(env, n < 0 ? -errno : static_cast<double>(n));
}

Napi::Value NetlinkSocket::GetPortId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), portId_); }

// The kernel doubles what it is asked for (for its bookkeeping) and reports
// the doubled figure; half of it is what messages can fill.
Napi::Value NetlinkSocket::GetReceiveBufferSize(const Napi::CallbackInfo& info) {
  int size = 0;
  socklen_t length = sizeof(size);
  if (io_.fd() < 0 || ::getsockopt(io_.fd(), SOL_SOCKET, SO_RCVBUF, &size, &length) < 0) size = 0;
  return Napi::Number::New(info.Env(), size / 2);
}

}  // namespace tuntap
