#include "udp_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "errno_error.h"
#include "slab_pool.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace tuntap {
namespace {

// What JS sees of a peer: a sockaddr_in or sockaddr_in6, in 28 bytes.
constexpr size_t kAddressSize = sizeof(sockaddr_in6);
// sendmmsg takes at most UIO_MAXIOV messages a call.
constexpr uint32_t kSendChunk = 1024;
// recvmmsg batches read per wake-up while each comes back full, when delivering natively.
constexpr int kBatchesPerWakeup = 8;
// The most segments the kernel takes in one UDP_SEGMENT message.
constexpr uint16_t kMaxSegments = 64;
// Room for the one UDP_GRO (or UDP_SEGMENT) control message a datagram carries.
constexpr size_t kControlSize = CMSG_SPACE(sizeof(int));

socklen_t AddressLength(const uint8_t* address) {
  sa_family_t family;
  std::memcpy(&family, address, sizeof(family));
  return family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

// The most bytes of UDP payload one message to `address` may carry.
size_t MaxGsoPayload(const uint8_t* address) {
  if (AddressLength(address) == sizeof(sockaddr_in)) return 65507;
  sockaddr_in6 name;
  std::memcpy(&name, address, sizeof(name));
  return IN6_IS_ADDR_V4MAPPED(&name.sin6_addr) ? 65507 : 65527;
}

uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
void Put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The one's-complement sum of big-endian 16-bit words, folded to 16 bits.
uint32_t OnesSum(const uint8_t* data, size_t length, uint64_t sum = 0) {
  size_t i = 0;
  for (; i + 1 < length; i += 2) sum += Get16(data + i);
  if (i < length) sum += static_cast<uint32_t>(data[i]) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint32_t>(sum);
}

// A packet read with a virtio_net_hdr, as Segment() will cut it.
struct Plan {
  const uint8_t* ip;
  uint32_t length;    // bytes of IP packet (by its own length field for a super-packet)
  uint32_t headers;   // IP + TCP/UDP header bytes; 0: copied whole
  uint32_t ipLength;  // IP header bytes
  uint32_t mss;
  uint32_t count;
  uint8_t version;
  bool tcp;
  int checksumAt;  // NEEDS_CSUM on a single packet: where the checksum goes, else -1
  uint32_t checksumStart;
};

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;

// What Segment() makes of one packet (virtio_net_hdr first), or false for one
// it cannot cut; the checks are those of lib/packet/gso.ts's splitGso.
bool PlanPacket(const uint8_t* p, uint32_t n, Plan* plan) {
  if (n < 10) return false;
  const uint8_t gso = p[1] & 0x7f;
  const uint32_t gsoSize = p[4] | (p[5] << 8);
  const uint32_t csumStart = p[6] | (p[7] << 8);
  const uint32_t csumOffset = p[8] | (p[9] << 8);
  *plan = Plan{p + 10, n - 10, 0, 0, 0, 1, 0, false, -1, 0};
  if (gso == 0) {
    if ((p[0] & 1) == 0) return true;
    if (csumStart + csumOffset + 2 > plan->length) return false;
    plan->checksumAt = static_cast<int>(csumStart + csumOffset);
    plan->checksumStart = csumStart;
    return true;
  }
  if (gso != 1 && gso != 4 && gso != 5) return false;
  const uint8_t* ip = plan->ip;
  const uint32_t size = plan->length;
  if (size < 1) return false;
  uint8_t version = ip[0] >> 4;
  uint32_t ipLength, total;
  uint8_t protocol;
  if (version == 4) {
    if (size < 20) return false;
    ipLength = (ip[0] & 0x0f) * 4;
    total = Get16(ip + 2);
    protocol = ip[9];
    if (ipLength < 20 || ((ip[6] & 0x3f) | ip[7]) != 0) return false;
  } else if (version == 6) {
    if (size < 40) return false;
    ipLength = 40;
    total = 40 + Get16(ip + 4);
    protocol = ip[6];
  } else {
    return false;
  }
  if (total > size || (protocol != kTcp && protocol != kUdp)) return false;
  if ((gso != 5) != (protocol == kTcp)) return false;
  if (gso != 5 && version != (gso == 1 ? 4 : 6)) return false;
  uint32_t l4 = 8;
  if (protocol == kTcp) {
    if (ipLength + 20 > total) return false;
    l4 = (ip[ipLength + 12] >> 4) * 4;
    if (l4 < 20) return false;
  }
  if (ipLength + l4 > total || gsoSize == 0) return false;
  const uint32_t payload = total - ipLength - l4;
  plan->length = total;
  plan->headers = ipLength + l4;
  plan->ipLength = ipLength;
  plan->mss = gsoSize;
  plan->count = std::max<uint32_t>(1, (payload + gsoSize - 1) / gsoSize);
  plan->version = version;
  plan->tcp = protocol == kTcp;
  return true;
}

// Writes segment i of a planned super-packet at `out`; returns its length.
uint32_t WriteSegment(const Plan& p, uint32_t i, uint8_t* out) {
  const uint32_t start = p.headers + i * p.mss;
  const uint32_t length = std::min(p.mss, p.length - start);
  const uint32_t size = p.headers + length;
  std::memcpy(out, p.ip, p.headers);
  std::memcpy(out + p.headers, p.ip + start, length);
  const uint32_t t = p.ipLength;
  if (p.version == 4) {
    Put16(out + 2, size);
    Put16(out + 4, Get16(p.ip + 4) + i);
    Put16(out + 10, 0);
    Put16(out + 10, ~OnesSum(out, t) & 0xffff);
  } else {
    Put16(out + 4, size - 40);
  }
  if (p.tcp) {
    uint32_t seq = (static_cast<uint32_t>(Get16(p.ip + t + 4)) << 16 | Get16(p.ip + t + 6)) + i * p.mss;
    Put16(out + t + 4, seq >> 16);
    Put16(out + t + 6, seq & 0xffff);
    uint8_t flags = p.ip[t + 13];
    if (i != p.count - 1) flags &= ~0x09;  // FIN, PSH: on the last segment only
    if (i != 0) flags &= ~0x80;            // CWR: on the first only
    out[t + 13] = flags;
  } else {
    Put16(out + t + 4, size - t);
  }
  const uint32_t at = t + (p.tcp ? 16 : 6);
  Put16(out + at, 0);
  uint64_t pseudo = p.version == 4 ? OnesSum(out + 12, 8) : OnesSum(out + 8, 32);
  pseudo += (p.tcp ? kTcp : kUdp) + (size - t);
  uint32_t check = ~OnesSum(out + t, size - t, pseudo) & 0xffff;
  if (check == 0 && !p.tcp) check = 0xffff;  // a zero UDP checksum means none
  Put16(out + at, check);
  return size;
}

}  // namespace

Napi::Function UdpSocket::Init(Napi::Env env) {
  std::vector<Napi::ClassPropertyDescriptor<UdpSocket>> methods = {
      InstanceMethod<&UdpSocket::SendBatch>("sendBatch"),
      InstanceMethod<&UdpSocket::Connect>("connect"),
      InstanceAccessor<&UdpSocket::GetLastError>("lastError"),
      InstanceAccessor<&UdpSocket::GetLocalPort>("localPort"),
      InstanceAccessor<&UdpSocket::GetTruncated>("truncated"),
      InstanceAccessor<&UdpSocket::GetGsoMessages>("gsoMessages"),
      InstanceMethod<&UdpSocket::DeliverTo>("deliverTo"),
      InstanceAccessor<&UdpSocket::GetDelivered>("delivered"),
      StaticMethod<&UdpSocket::Open>("open"),
      StaticMethod<&UdpSocket::Inspect>("inspect"),
      StaticMethod<&UdpSocket::Segment>("segment"),
  };
  AddCommonMethods(methods);
  return DefineClass(env, "UdpSocket", methods);
}

// open(family, address, port, receiveBuffer, sendBuffer) -> { fd, port }.
// On the JS thread: socket() and bind() of a UDP socket do not wait.
Napi::Value UdpSocket::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int family = info[0].As<Napi::Number>().Int32Value() == 6 ? AF_INET6 : AF_INET;
  std::string address = info[1].As<Napi::String>().Utf8Value();
  uint16_t port = static_cast<uint16_t>(info[2].As<Napi::Number>().Uint32Value());
  int buffers[2] = {info[3].As<Napi::Number>().Int32Value(), info[4].As<Napi::Number>().Int32Value()};
  sockaddr_in6 name;
  std::memset(&name, 0, sizeof(name));
  auto* name4 = reinterpret_cast<sockaddr_in*>(&name);
  int parsed = family == AF_INET ? inet_pton(AF_INET, address.c_str(), &name4->sin_addr)
                                 : inet_pton(AF_INET6, address.c_str(), &name.sin6_addr);
  if (parsed != 1) throw ErrnoError(env, EINVAL, "inet_pton");
  if (family == AF_INET) {
    name4->sin_family = AF_INET;
    name4->sin_port = htons(port);
  } else {
    name.sin6_family = AF_INET6;
    name.sin6_port = htons(port);
  }
  int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(env, errno, "socket");
  const int options[2] = {SO_RCVBUF, SO_SNDBUF};
  for (int i = 0; i < 2; i++) {
    if (buffers[i] > 0 && ::setsockopt(fd, SOL_SOCKET, options[i], &buffers[i], sizeof(int)) < 0) {
      int err = errno;
      ::close(fd);
      throw ErrnoError(env, err, "setsockopt");
    }
  }
  socklen_t length = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&name), length) < 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&name), &length) < 0) {
    int err = errno;
    ::close(fd);
    throw ErrnoError(env, err, "bind");
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", fd);
  result.Set("port", ntohs(family == AF_INET ? name4->sin_port : name.sin6_port));
  return result;
}

// inspect(fd, dup) -> { type, domain, port, fd }: what a socket the user
// already has is, and (dup) a close-on-exec duplicate for a UdpSocket to own.
Napi::Value UdpSocket::Inspect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool dup = info[1].As<Napi::Boolean>().Value();
  int type = 0;
  int domain = 0;
  socklen_t size = sizeof(int);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) < 0) throw ErrnoError(env, errno, "getsockopt(SO_TYPE)");
  size = sizeof(int);
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &size) < 0)
    throw ErrnoError(env, errno, "getsockopt(SO_DOMAIN)");
  sockaddr_in6 name;
  std::memset(&name, 0, sizeof(name));
  socklen_t length = sizeof(name);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&name), &length) < 0) throw ErrnoError(env, errno, "getsockname");
  Napi::Object result = Napi::Object::New(env);
  result.Set("type", type);
  result.Set("domain", domain == AF_INET ? 4 : domain == AF_INET6 ? 6 : 0);
  result.Set("port", ntohs(name.sin6_port));  // sin_port sits at the same offset
  result.Set("fd", fd);
  if (dup) {
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) throw ErrnoError(env, errno, "fcntl(F_DUPFD_CLOEXEC)");
    result.Set("fd", copy);
  }
  return result;
}

// segment(slab, descriptors, count, gap) -> { buffer, descriptors, group, count, malformed }
// Cuts each packet read from an offload device into plain IP packets with
// complete headers and checksums, `gap` free bytes before each (a tunnel header's room).
Napi::Value UdpSocket::Segment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto slab = info[0].As<Napi::Uint8Array>();
  auto in = info[1].As<Napi::Uint32Array>();
  uint32_t count = std::min<uint32_t>(info[2].As<Napi::Number>().Uint32Value(), in.ElementLength() / 2);
  uint32_t gap = info[3].As<Napi::Number>().Uint32Value();
  std::vector<Plan> plans;
  plans.reserve(count);
  size_t total = 0;
  uint32_t segments = 0;
  uint32_t malformed = 0;
  for (uint32_t i = 0; i < count; i++) {
    Plan plan;
    if (static_cast<size_t>(in[2 * i]) + in[2 * i + 1] > slab.ByteLength() ||
        !PlanPacket(slab.Data() + in[2 * i], in[2 * i + 1], &plan)) {
      malformed++;
      continue;
    }
    uint32_t payload = plan.headers == 0 ? plan.length : plan.length - plan.headers;
    total += static_cast<size_t>(plan.count) * (gap + plan.headers) + payload;
    segments += plan.count;
    plans.push_back(plan);
  }
  Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(env, std::max<size_t>(total, 1));
  Napi::Uint32Array descriptors = Napi::Uint32Array::New(env, 2 * segments);
  Napi::Uint32Array group = Napi::Uint32Array::New(env, segments);
  uint8_t* out = buffer.Data();
  size_t at = 0;
  uint32_t k = 0;
  for (uint32_t g = 0; g < plans.size(); g++) {
    const Plan& p = plans[g];
    for (uint32_t i = 0; i < p.count; i++) {
      std::memset(out + at, 0, gap);
      at += gap;
      uint32_t length = p.length;
      if (p.headers != 0) {
        length = WriteSegment(p, i, out + at);
      } else {
        std::memcpy(out + at, p.ip, p.length);
        if (p.checksumAt >= 0) {
          // The field holds the pseudo-header sum: summing from csumStart completes it.
          uint32_t sum = OnesSum(out + at + p.checksumStart, p.length - p.checksumStart);
          Put16(out + at + p.checksumAt, ~sum & 0xffff);
        }
      }
      descriptors[2 * k] = static_cast<uint32_t>(at);
      descriptors[2 * k + 1] = length;
      group[k++] = g;
      at += length;
    }
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("buffer", buffer);
  result.Set("descriptors", descriptors);
  result.Set("group", group);
  result.Set("count", k);
  result.Set("malformed", malformed);
  return result;
}

UdpSocket::UdpSocket(const Napi::CallbackInfo& info) : PolledHandle<UdpSocket>(info, "UdpSocket") {
  Napi::Env env = info.Env();
  // The fd is ours from this line: io_ closes it if anything below throws.
  Adopt(env, info[0].As<Napi::Number>().Int32Value());
  maxDatagram_ = info[1].As<Napi::Number>().Uint32Value();
  maxBatch_ = info[2].As<Napi::Number>().Uint32Value();
  headerLength_ = info[3].As<Napi::Number>().Uint32Value();
  bool gro = info[4].As<Napi::Boolean>().Value();
  SetCallbacks(info, {info[5].As<Napi::Function>(), info[6].As<Napi::Function>()});
  if (gro) {
    int one = 1;
    if (::setsockopt(io_.fd(), SOL_UDP, UDP_GRO, &one, sizeof(one)) < 0)
      throw ErrnoError(env, errno, "setsockopt(UDP_GRO)");
  }
  slots_.resize(static_cast<size_t>(maxBatch_) * maxDatagram_);
  headers_.resize(static_cast<size_t>(maxBatch_) * headerLength_);
  names_.resize(maxBatch_);
  control_.resize(maxBatch_ * kControlSize);
  messages_.resize(std::max(maxBatch_, kSendChunk));
  iovecs_.resize(2 * messages_.size());
  Watch(UV_READABLE);
}

void UdpSocket::ReportError(int err, const char* syscall) {
  if (io_.fd() < 0 || !JsAllowed()) return;
  Call(kOnError, {Napi::Number::New(Env(), err), Napi::String::New(Env(), syscall)});
}

void UdpSocket::OnNativeFailure(int err) {
  Watch(0);
  ReportError(err, "recvmmsg");
}

void UdpSocket::OnEvents(int status, int events) {
  // EPOLLERR (status < 0) is a pending socket error (an ICMP error queued on
  // the socket): recvmmsg returns and so clears it. libuv stopped the poll
  // handle before telling us, so it is started again below.
  if ((events & UV_READABLE) == 0 && status >= 0) return;
  int stop = ReceiveBatch(Env());
  // Natively delivered batches call no JS: read on while they come full, a bounded number.
  for (int i = 1; i < kBatchesPerWakeup && stop == 0 && deviceFd_ >= 0 && io_.fd() >= 0; i++) {
    stop = ReceiveBatch(Env());
  }
  if (io_.fd() < 0) return;  // a callback closed the socket
  if (status < 0) {
    // recvmmsg returned the error (a peer's ICMP port unreachable: ECONNREFUSED),
    // and so cleared it, or read a full batch: go on. An error it did not
    // explain would wake us at once, for ever: give up after a few in a row.
    if (stop != EAGAIN) errorWakeups_ = 0;
    if (stop != EAGAIN || ++errorWakeups_ < 8) {
      Watch(UV_READABLE);
      return;
    }
    Watch(0);
    ReportError(EIO, "epoll");
    return;
  }
  errorWakeups_ = 0;
}

int UdpSocket::ReceiveBatch(Napi::Env env) {
  const int fd = io_.fd();
  // Set up once (and again after a send used the messages): recvmmsg changes
  // only the lengths and flags of those it filled, reset below.
  for (uint32_t i = 0; i < receiveUsed_; i++) {
    messages_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in6);
    messages_[i].msg_hdr.msg_controllen = kControlSize;
    messages_[i].msg_hdr.msg_flags = 0;
  }
  for (uint32_t i = receiveReady_ ? maxBatch_ : 0; i < maxBatch_; i++) {
    mmsghdr& m = messages_[i];
    std::memset(&m, 0, sizeof(m));
    iovec* iov = &iovecs_[2 * i];
    int n = 0;
    if (headerLength_ > 0) iov[n++] = {headers_.data() + i * headerLength_, headerLength_};
    iov[n++] = {slots_.data() + static_cast<size_t>(i) * maxDatagram_, maxDatagram_};
    m.msg_hdr.msg_iov = iov;
    m.msg_hdr.msg_iovlen = n;
    m.msg_hdr.msg_name = &names_[i];
    m.msg_hdr.msg_namelen = sizeof(sockaddr_in6);
    m.msg_hdr.msg_control = control_.data() + i * kControlSize;
    m.msg_hdr.msg_controllen = kControlSize;
  }
  receiveReady_ = true;
  int got;
  do {
    got = ::recvmmsg(fd, messages_.data(), maxBatch_, MSG_DONTWAIT, nullptr);
  } while (got < 0 && errno == EINTR);
  receiveUsed_ = got < 0 ? 1 : static_cast<uint32_t>(got);
  if (got < 0) {
    int err = errno;
    if (err != EAGAIN) ReportError(err, "recvmmsg");
    return err;
  }
  int from = deviceFd_ >= 0 ? Deliver(got) : 0;
  if (from < got) CallOnData(env, from, got);
  return static_cast<uint32_t>(got) == maxBatch_ ? 0 : EAGAIN;
}

int UdpSocket::Deliver(int got) {
  bool full = false;
  for (int i = 0; i < got; i++) {
    const msghdr& h = messages_[i].msg_hdr;
    if ((h.msg_flags & MSG_TRUNC) != 0) {
      truncated_++;
      continue;
    }
    size_t length = messages_[i].msg_len > headerLength_ ? messages_[i].msg_len - headerLength_ : 0;
    if (length == 0 || length > deviceMax_) {
      delivered_[length == 0 ? 2 : 3]++;
      continue;
    }
    // A full device drops the rest of the batch, as writePackets() stopping at EAGAIN does.
    if (full) {
      delivered_[4]++;
      continue;
    }
    ssize_t n;
    do {
      n = ::write(deviceFd_, slots_.data() + static_cast<size_t>(i) * maxDatagram_, length);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
      delivered_[0]++;
      delivered_[1] += static_cast<double>(length);
    } else if (errno == EAGAIN) {
      full = true;
      delivered_[4]++;
    } else {
      return i;  // the device's own writePackets() says what this error means
    }
  }
  return got;
}

void UdpSocket::CallOnData(Napi::Env env, int from, int got) {
  size_t total = 0;
  for (int i = from; i < got; i++) total += SlabPlace(messages_[i].msg_len);
  Napi::Buffer<uint8_t> batch = Napi::Buffer<uint8_t>::New(env, std::max<size_t>(total, 1));
  Napi::Uint32Array descriptors = Napi::Uint32Array::New(env, 2 * (got - from));
  Napi::Uint32Array segments = Napi::Uint32Array::New(env, got - from);
  Napi::Buffer<uint8_t> addresses = Napi::Buffer<uint8_t>::New(env, (got - from) * kAddressSize);
  Napi::Value headers = env.Null();
  uint8_t* headerData = nullptr;
  if (headerLength_ > 0) {
    Napi::Buffer<uint8_t> h = Napi::Buffer<uint8_t>::New(env, (got - from) * headerLength_);
    headerData = h.Data();
    headers = h;
  }
  std::memset(addresses.Data(), 0, addresses.Length());
  size_t offset = 0;
  uint32_t count = 0;
  for (int i = from; i < got; i++) {
    const msghdr& h = messages_[i].msg_hdr;
    if ((h.msg_flags & MSG_TRUNC) != 0) {
      truncated_++;
      continue;
    }
    // A datagram shorter than the header has no payload: length 0, for JS to drop.
    size_t length = messages_[i].msg_len > headerLength_ ? messages_[i].msg_len - headerLength_ : 0;
    std::memcpy(batch.Data() + offset, slots_.data() + static_cast<size_t>(i) * maxDatagram_, length);
    if (headerData != nullptr) {
      std::memcpy(headerData + count * headerLength_, headers_.data() + i * headerLength_, headerLength_);
    }
    std::memcpy(addresses.Data() + count * kAddressSize, &names_[i], std::min<size_t>(h.msg_namelen, kAddressSize));
    descriptors[2 * count] = static_cast<uint32_t>(offset);
    descriptors[2 * count + 1] = static_cast<uint32_t>(length);
    segments[count] = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int size = 0;
        std::memcpy(&size, CMSG_DATA(c), sizeof(size));
        if (size > 0 && static_cast<size_t>(size) < messages_[i].msg_len) segments[count] = static_cast<uint32_t>(size);
      }
    }
    offset += SlabPlace(length);
    count++;
  }
  if (count > 0) {
    Call(kOnData, {batch, descriptors, Napi::Number::New(env, count), headers, addresses, segments});
  }
}

void UdpSocket::StopDelivery() {
  if (deviceFd_ < 0) return;
  ::close(deviceFd_);
  deviceFd_ = -1;
}

// deliverTo(fd, maxPacket): throws on a failed dup.
Napi::Value UdpSocket::DeliverTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  StopDelivery();
  if (fd < 0) return env.Undefined();
  if (io_.fd() < 0) throw ErrnoError(env, EBADF, "deliverTo");
  deviceFd_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (deviceFd_ < 0) throw ErrnoError(env, errno, "fcntl(F_DUPFD_CLOEXEC)");
  deviceMax_ = info[1].As<Napi::Number>().Uint32Value();
  return env.Undefined();
}

Napi::Value UdpSocket::GetDelivered(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array result = Napi::Array::New(env, 5);
  for (uint32_t i = 0; i < 5; i++) result.Set(i, delivered_[i]);
  return result;
}

// sendBatch(): see NativeUdpSocket.sendBatch in lib/internal/native.ts. A segmentSize sends each
// datagram as one UDP_SEGMENT send; `coalesce` gathers runs of equal datagrams to one peer by iovecs.
Napi::Value UdpSocket::SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  lastError_ = 0;
  receiveReady_ = false;  // the messages are the send's from here
  if (io_.fd() < 0) {
    lastError_ = EBADF;
    return Napi::Number::New(env, 0);
  }
  auto buffer = info[0].As<Napi::Uint8Array>();
  auto descriptors = info[1].As<Napi::Uint32Array>();
  uint32_t start = info[2].As<Napi::Number>().Uint32Value();
  uint32_t count = info[3].As<Napi::Number>().Uint32Value();
  uint8_t* headers = info[4].IsNull() ? nullptr : info[4].As<Napi::Uint8Array>().Data();
  auto peerTable = info[5].As<Napi::Uint8Array>();
  uint8_t* peers = peerTable.Data();
  size_t peerCount = peerTable.ByteLength() / kAddressSize;
  uint16_t* peerIndex = info[6].IsNull() ? nullptr : info[6].As<Napi::Uint16Array>().Data();
  // One segment size for all, or a Uint16Array of one per datagram (0: not cut).
  uint16_t segmentSize = info[7].IsNumber() ? static_cast<uint16_t>(info[7].As<Napi::Number>().Uint32Value()) : 0;
  uint16_t* segmentSizes = info[7].IsTypedArray() ? info[7].As<Napi::Uint16Array>().Data() : nullptr;
  size_t segmentRoom = segmentSizes == nullptr ? count : info[7].As<Napi::Uint16Array>().ElementLength();
  bool coalesce = segmentSize == 0 && segmentSizes == nullptr && segmentOffload_ && info[8].IsBoolean() &&
                  info[8].As<Napi::Boolean>().Value();
  // Hooks in JS may have written anything into these arrays (or detached
  // them): nothing outside them is read, whatever they hold.
  size_t headerRoom =
      headers == nullptr ? 0 : info[4].As<Napi::Uint8Array>().ByteLength() / std::max<uint32_t>(headerLength_, 1);
  size_t indexRoom = peerIndex == nullptr ? count : info[6].As<Napi::Uint16Array>().ElementLength();
  if (start > descriptors.ElementLength() / 2) start = static_cast<uint32_t>(descriptors.ElementLength() / 2);
  count = std::min<uint32_t>(count, static_cast<uint32_t>(descriptors.ElementLength() / 2) - start);
  if (sendControl_.empty()) sendControl_.resize(kSendChunk * kControlSize);
  const uint32_t headerBytes = headers == nullptr ? 0 : headerLength_;
  uint16_t carried[kSendChunk];  // datagrams in each message of the chunk
  uint32_t done = 0;
  uint32_t plainBefore = 0;  // datagrams before this one go one per message
  while (done < count) {
    uint32_t n = std::min(count - done, kSendChunk);
    uint32_t k = 0;      // datagrams taken into this chunk
    uint32_t m = 0;      // messages made of them
    uint32_t parts = 0;  // iovecs used: a message's own stay contiguous
    bool runOpen = false;
    uint16_t runPeer = 0;
    size_t runSize = 0, runBytes = 0, runLimit = 0;
    for (; k < n; k++) {
      uint32_t i = start + done + k;
      uint16_t p = peerIndex == nullptr ? 0 : peerIndex[i - start];
      bool fits = static_cast<size_t>(descriptors[2 * i]) + descriptors[2 * i + 1] <= buffer.ByteLength() &&
                  p < peerCount && i - start < indexRoom && (headers == nullptr || i - start < headerRoom) &&
                  i - start < segmentRoom;
      if (!fits) break;
      size_t datagram = descriptors[2 * i + 1] + headerBytes;
      bool join = runOpen && p == runPeer && datagram > 0 && datagram <= runSize && carried[m - 1] < kMaxSegments &&
                  runBytes + datagram <= runLimit;
      mmsghdr& msg = messages_[join ? m - 1 : m];
      if (!join) {
        std::memset(&msg, 0, sizeof(msg));
        msg.msg_hdr.msg_iov = &iovecs_[parts];
        carried[m++] = 0;
      }
      if (headers != nullptr) {
        iovecs_[parts++] = {headers + static_cast<size_t>(i - start) * headerLength_, headerLength_};
      }
      iovecs_[parts++] = {buffer.Data() + descriptors[2 * i], descriptors[2 * i + 1]};
      msg.msg_hdr.msg_iovlen = iovecs_.data() + parts - msg.msg_hdr.msg_iov;
      uint16_t size = segmentSizes == nullptr ? segmentSize : segmentSizes[i - start];
      if (join) {
        size = static_cast<uint16_t>(runSize);
        runBytes += datagram;
        runOpen = datagram == runSize;  // a shorter one ends the run
      } else {
        uint8_t* peer = peers + p * kAddressSize;
        if (!connected_) {
          msg.msg_hdr.msg_name = peer;
          msg.msg_hdr.msg_namelen = AddressLength(peer);
        }
        runOpen = coalesce && done + k >= plainBefore && datagram > 0 && datagram <= UINT16_MAX;
        runPeer = p;
        runSize = runBytes = datagram;
        runLimit = MaxGsoPayload(peer);
      }
      // Once per message: when a second datagram joins it, or when JS asked for the cut.
      if ((join && carried[m - 1] == 1) || (!join && size > 0 && datagram > size)) {
        msg.msg_hdr.msg_control = sendControl_.data() + (m - 1) * kControlSize;
        msg.msg_hdr.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
        cmsghdr* c = CMSG_FIRSTHDR(&msg.msg_hdr);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        std::memcpy(CMSG_DATA(c), &size, sizeof(size));
      }
      carried[m - 1]++;
    }
    if (k == 0) {
      lastError_ = EINVAL;  // datagram start + done lies outside what it was given
      break;
    }
    int sent;
    do {
      sent = ::sendmmsg(io_.fd(), messages_.data(), m, MSG_DONTWAIT);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
      // No UDP_SEGMENT here (an egress device without checksum offload, an old
      // kernel): plain datagrams from now on, this batch too. A segment above the
      // path MTU (EMSGSIZE): this run alone goes plain, to be fragmented as before.
      if (carried[0] > 1 && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT)) {
        segmentOffload_ = coalesce = false;
        continue;
      }
      if (carried[0] > 1 && errno == EMSGSIZE) {
        plainBefore = done + carried[0];
        continue;
      }
      lastError_ = errno;
      break;
    }
    for (int j = 0; j < sent; j++) {
      done += carried[j];
      if (carried[j] > 1) gsoMessages_++;
    }
    // sendmmsg stops at the first message that fails and reports it on the next call.
  }
  return Napi::Number::New(env, done);
}

// connect(peer: Uint8Array, a 28-byte sockaddr); throws.
Napi::Value UdpSocket::Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto peer = info[0].As<Napi::Uint8Array>();
  if (io_.fd() < 0) throw ErrnoError(env, EBADF, "connect");
  if (peer.ByteLength() < kAddressSize) throw ErrnoError(env, EINVAL, "connect");
  if (::connect(io_.fd(), reinterpret_cast<sockaddr*>(peer.Data()), AddressLength(peer.Data())) < 0) {
    throw ErrnoError(env, errno, "connect");
  }
  connected_ = true;
  return env.Undefined();
}

Napi::Value UdpSocket::GetLastError(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), lastError_);
}

Napi::Value UdpSocket::GetLocalPort(const Napi::CallbackInfo& info) {
  sockaddr_in6 name;
  socklen_t length = sizeof(name);
  if (io_.fd() < 0 || ::getsockname(io_.fd(), reinterpret_cast<sockaddr*>(&name), &length) < 0) {
    return Napi::Number::New(info.Env(), 0);
  }
  return Napi::Number::New(info.Env(), ntohs(name.sin6_port));  // sin_port sits at the same offset
}

Napi::Value UdpSocket::GetTruncated(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), truncated_);
}

Napi::Value UdpSocket::GetGsoMessages(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), gsoMessages_);
}

}  // namespace tuntap
