#include "netlink_socket.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errno_error.h"
#include "netns.h"

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

}  // namespace

Napi::Function NetlinkSocket::Init(Napi::Env env) {
  return DefineClass(env, "NetlinkSocket",
                     {
                         InstanceMethod<&NetlinkSocket::Send>("send"),
                         InstanceMethod<&NetlinkSocket::Ref>("ref"),
                         InstanceMethod<&NetlinkSocket::Unref>("unref"),
                         InstanceMethod<&NetlinkSocket::Close>("close"),
                         InstanceAccessor<&NetlinkSocket::GetPortId>("portId"),
                         InstanceAccessor<&NetlinkSocket::GetFd>("fd"),
                     });
}

NetlinkSocket::NetlinkSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetlinkSocket>(info) {
  Napi::Env env = info.Env();
  uint32_t groups = info[0].As<Napi::Number>().Uint32Value();
  int receiveBufferSize = info[1].As<Napi::Number>().Int32Value();
  onData_ = Napi::Persistent(info[2].As<Napi::Function>());
  onError_ = Napi::Persistent(info[3].As<Napi::Function>());
  asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "NetlinkSocket");

  int fd;
  {
    // A netlink socket speaks for the namespace it was created in, for life:
    // only its creation needs to happen there.
    NetnsGuard guard(NetnsArg(info, 4));
    if (!guard.ok()) throw ErrnoError(env, guard.error(), guard.syscall());
    fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw ErrnoError(env, errno, "socket(AF_NETLINK)");
  }
  // From here on io_ owns the fd and closes it if anything below throws.
  io_.Init(env, fd, this, OnPoll);

  // A watcher must not lose events in a burst (a device with many
  // addresses going away): ask for a large buffer. SO_RCVBUFFORCE passes the
  // rmem_max cap when we have CAP_NET_ADMIN; otherwise take what SO_RCVBUF gives.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receiveBufferSize, sizeof(receiveBufferSize)) < 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBufferSize, sizeof(receiveBufferSize));
  }
  // Extended ACKs carry the kernel's own words for an error ("MTU too
  // low"); capped ACKs keep an error from echoing our whole request. Both
  // are optional: an old kernel that refuses them still answers.
  int one = 1;
  ::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  ::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));

  struct sockaddr_nl address;
  std::memset(&address, 0, sizeof(address));
  address.nl_family = AF_NETLINK;
  address.nl_groups = groups;  // nl_pid 0: the kernel picks a unique port id
  if (::bind(fd, reinterpret_cast<struct sockaddr*>(&address), sizeof(address)) < 0) {
    throw ErrnoError(env, errno, "bind(AF_NETLINK)");
  }
  socklen_t length = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<struct sockaddr*>(&address), &length) < 0) {
    throw ErrnoError(env, errno, "getsockname(AF_NETLINK)");
  }
  portId_ = address.nl_pid;
  buffer_.resize(kDatagramSize);
  TrackResource(env, this);
  io_.Watch(UV_READABLE);
}

NetlinkSocket::~NetlinkSocket() { Release(); }

void NetlinkSocket::Release() {
  if (io_.fd() < 0) return;
  io_.Close();
  UntrackResource(Env(), this);
}

void NetlinkSocket::Call(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
  CallJs(Env(), *asyncContext_, Value(), fn, args);
}

void NetlinkSocket::OnPoll(uv_poll_t* poll, int status, int events) {
  auto* self = static_cast<NetlinkSocket*>(poll->data);
  if (self == nullptr) return;
  Napi::HandleScope scope(self->Env());
  // The environment is going away (worker.terminate()): its cleanup hook
  // releases the socket; until then, stop waking up for it.
  if (!CanCallIntoJs(self->Env())) {
    self->io_.Watch(0);
    return;
  }
  // EPOLLERR (status < 0) on a netlink socket is a pending socket error,
  // ENOBUFS after an overrun: the recv in ReceiveBatch picks it up.
  if ((events & UV_READABLE) != 0 || status < 0) self->ReceiveBatch();
}

void NetlinkSocket::ReceiveBatch() {
  Napi::Env env = Env();
  std::vector<uint8_t> batch;
  Napi::Array lengths = Napi::Array::New(env);
  uint32_t count = 0;
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
    batch.insert(batch.end(), buffer_.data(), buffer_.data() + got);
    lengths.Set(count++, Napi::Number::New(env, static_cast<double>(got)));
    if (static_cast<size_t>(n) > buffer_.size()) error = EMSGSIZE;
  }
  if (count > 0) {
    Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::Copy(env, batch.data(), batch.size());
    Call(onData_, {data, lengths});
  }
  if (lost && io_.fd() >= 0) Call(onError_, {Napi::Number::New(env, ENOBUFS), Napi::String::New(env, "recv")});
  if (error != 0 && io_.fd() >= 0) Call(onError_, {Napi::Number::New(env, error), Napi::String::New(env, "recv")});
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

Napi::Value NetlinkSocket::Ref(const Napi::CallbackInfo& info) {
  io_.Ref();
  return info.Env().Undefined();
}

Napi::Value NetlinkSocket::Unref(const Napi::CallbackInfo& info) {
  io_.Unref();
  return info.Env().Undefined();
}

// close(): idempotent; drops the callbacks so nothing stays alive from here.
Napi::Value NetlinkSocket::Close(const Napi::CallbackInfo& info) {
  Release();
  onData_.Reset();
  onError_.Reset();
  return info.Env().Undefined();
}

Napi::Value NetlinkSocket::GetPortId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), portId_);
}

Napi::Value NetlinkSocket::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), io_.fd());
}

}  // namespace tuntap
