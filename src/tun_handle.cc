#include "tun_handle.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "errno_error.h"
#include "owned_fd.h"
#include "slab_pool.h"
#include "sys_io.h"

namespace tuntap {

namespace {

// One packet, one write(2): bytes written or -errno (-EBADF once closed).
ssize_t WritePacket(int fd, const uint8_t* data, size_t length) { return fd < 0 ? -EBADF : SysWrite(fd, data, length); }

// Every fd a TunHandle holds, across environments: fd numbers are process-wide,
// so a second wrap of one fd (fromFd on a queue already driven here) is refused
// rather than allowed to close the first one's fd under it.
std::mutex ownedFdsMutex;
std::unordered_set<int>& OwnedFds() {
  static auto* fds = new std::unordered_set<int>();
  return *fds;
}

}  // namespace

bool TunHandle::OwnsFd(int fd) {
  std::lock_guard<std::mutex> lock(ownedFdsMutex);
  return OwnedFds().count(fd) != 0;
}

Napi::Function TunHandle::Init(Napi::Env env) {
  std::vector<Napi::ClassPropertyDescriptor<TunHandle>> methods = {
      InstanceMethod<&TunHandle::StartReading>("startReading"),
      InstanceMethod<&TunHandle::StopReading>("stopReading"),
      InstanceMethod<&TunHandle::SetSlabReuse>("setSlabReuse"),
      InstanceMethod<&TunHandle::SetReadBudget>("setReadBudget"),
      InstanceMethod<&TunHandle::Write>("write"),
      InstanceMethod<&TunHandle::WriteViews>("writeViews"),
      InstanceMethod<&TunHandle::WriteSlab>("writeSlab"),
      InstanceMethod<&TunHandle::WaitWritable>("waitWritable"),
      InstanceMethod<&TunHandle::StopReader>("stopReader"),
  };
  AddCommonMethods(methods);
  return DefineClass(env, "TunHandle", methods);
}

// new TunHandle(fd, maxPacketSize, maxBatch, writeResults, onRead, onWritable, onError,
// readerThread, readerCpu) takes the OwnedFd over first thing, except one another TunHandle
// holds (EEXIST), which stays with that handle, unclosed.
TunHandle::TunHandle(const Napi::CallbackInfo& info) : PolledHandle<TunHandle>(info, "TunHandle") {
  Napi::Env env = info.Env();
  if (OwnsFd(OwnedFd::Peek(env, info[0]))) {
    OwnedFd::Forget(env, info[0]);
    throw ErrnoError(env, EEXIST, "TunHandle");
  }
  int fd = OwnedFd::Take(env, info[0]);
  try {
    uint32_t maxPacketSize = info[1].As<Napi::Number>().Uint32Value();
    maxBatch_ = std::max<uint32_t>(1, info[2].As<Napi::Number>().Uint32Value());
    readBudget_ = maxBatch_;
    auto results = info[3].As<Napi::Int32Array>();
    writeResults_ = results.Data();
    writeResultsCapacity_ = static_cast<uint32_t>(results.ElementLength());
    writeResultsRef_ = Napi::Persistent(results.As<Napi::Object>());
    SetCallbacks(info, {info[4].As<Napi::Function>(), info[5].As<Napi::Function>(), info[6].As<Napi::Function>()});
    NewDescriptors(env);
    // Room for many usual packets and always one of the largest. 1 MiB because each slab has a fixed
    // cost (an external Buffer, its finalizer, page faults); the price is that a kept packet pins it.
    room_.size = std::max<size_t>(1024 * 1024, 4 * static_cast<size_t>(maxPacketSize));
    reader_ = std::make_unique<PacketReader>(fd, maxPacketSize, maxBatch_, room_.size);
  } catch (...) {
    ::close(fd);
    throw;
  }
  try {
    Adopt(env, fd);  // closes fd if it fails
    if (info.Length() > 7 && info[7].ToBoolean().Value()) {
      StartThread(env, info.Length() > 8 ? info[8].As<Napi::Number>().Int32Value() : -1);
    }
    std::lock_guard<std::mutex> lock(ownedFdsMutex);
    OwnedFds().insert(fd);
  } catch (...) {
    // Released here, not by ~PolledHandle, which runs after reader_ is gone: any N-API call
    // throws once a worker is terminating.
    Release();
    throw;
  }
}

TunHandle::~TunHandle() { Release(); }

// The thread's eventfd is polled on the loop like the fd itself, so the
// wrapper's strong reference, ref/unref and teardown cover it the same way.
void TunHandle::StartThread(Napi::Env env, int cpu) {
  int err = reader_->StartThread(cpu);
  if (err != 0) throw ErrnoError(env, err, cpu >= 0 && err == EINVAL ? "sched_setaffinity" : "pthread_create");
  int notify = dup(reader_->notifyFd());
  if (notify < 0) throw ErrnoError(env, errno, "dup");
  notify_.Init(env, notify, this, OnPoll<&TunHandle::OnNotify>);
  AlsoPoll(&notify_);
}

void TunHandle::BeforeRelease() {
  reading_ = false;
  waitingWritable_ = false;
  reader_->Close();
  notify_.Close();
  std::lock_guard<std::mutex> lock(ownedFdsMutex);
  OwnedFds().erase(io_.fd());
}

void TunHandle::AfterClose() {
  slab_.Reset();
  room_.data = nullptr;
}

void TunHandle::UpdatePoll() {
  PacketReader::Interest interest = reader_->Poll(reading_);
  Watch(notify_, interest.notify ? UV_READABLE : 0);
  Watch((interest.fd ? UV_READABLE : 0) | (waitingWritable_ ? UV_WRITABLE : 0));
}

// The reader thread has batches ready (or an error for us).
void TunHandle::OnNotify(int status, int events) {
  if (status < 0) {
    OnNativeFailure(-status);
    return;
  }
  if (reading_ && io_.fd() >= 0) ReadBatch(true);
}

void TunHandle::ReportError(int err, const char* syscall) {
  if (io_.fd() < 0 || !JsAllowed()) return;
  Call(kOnError, {Napi::Number::New(Env(), err), Napi::String::New(Env(), syscall)});
}

void TunHandle::OnNativeFailure(int err) {
  reading_ = false;
  waitingWritable_ = false;
  UpdatePoll();
  ReportError(err, "read");
}

void TunHandle::OnEvents(int status, int events) {
  if (status < 0) {
    // libuv reports EPOLLERR as EBADF; the kernel's own reason (EBADFD when
    // the device was deleted under us) comes from a read.
    int err = -status;
    uint8_t probe;
    ssize_t n = SysRead(io_.fd(), &probe, 0);
    if (n < 0 && n != -EAGAIN) err = static_cast<int>(-n);
    reading_ = false;
    waitingWritable_ = false;
    UpdatePoll();
    ReportError(err, "poll");
    return;
  }
  if ((events & UV_WRITABLE) != 0 && waitingWritable_) {
    waitingWritable_ = false;
    UpdatePoll();
    Call(kOnWritable, {});
  }
  // The writable callback may have closed or paused us, or JS may be stopping.
  if ((events & UV_READABLE) != 0 && Reading()) ReadBatch(false);
}

void TunHandle::ReadBatch(bool fromThread) {
  // Bounded so one busy device cannot starve the loop (libuv's poll is level-triggered). One
  // callback scope around all parts, so Node runs `readable`'s nextTick work and the microtasks
  // once per wake-up, not once per part.
  napi_callback_scope scope = nullptr;
  if (napi_open_callback_scope(Env(), Value(), AsyncContext(), &scope) != napi_ok) scope = nullptr;
  InRead inRead(this, scope != nullptr);
  reader_->Deliver(*this, fromThread, readBudget_);
  inRead.End();
  if (scope != nullptr) napi_close_callback_scope(Env(), scope);
}

bool TunHandle::Detached(Napi::Env env, const Napi::ObjectReference& typedArray) {
  napi_value arrayBuffer = nullptr;
  bool detached = false;
  if (napi_get_typedarray_info(env, typedArray.Value(), nullptr, nullptr, nullptr, &arrayBuffer, nullptr) != napi_ok ||
      napi_is_detached_arraybuffer(env, arrayBuffer, &detached) != napi_ok) {
    return true;
  }
  return detached;
}

void TunHandle::NewDescriptors(Napi::Env env) {
  auto descriptors = Napi::Uint32Array::New(env, 2 * static_cast<size_t>(maxBatch_));
  descriptors_ = descriptors.Data();
  descriptorsRef_ = Napi::Persistent(descriptors.As<Napi::Object>());
}

void TunHandle::NewSlab(Napi::Env env) {
  size_t average = room_.packets > 0 ? room_.used / room_.packets : 0;
  slab_ = Napi::Persistent(NextSlab(env, room_.size, average, &room_.data));
  room_.used = 0;
  room_.packets = 0;
}

// Arrays user code detached are replaced, never written. With slab reuse
// every batch goes in the same memory, which stays in the cache and allocates nothing.
uint32_t* TunHandle::BeginPart() {
  Napi::Env env = Env();
  if (Detached(env, descriptorsRef_)) NewDescriptors(env);
  if (!slab_.IsEmpty() && Detached(env, slab_)) slab_.Reset();
  if (reuseSlab_) room_.used = room_.packets = 0;
  shared_ = nullptr;
  return descriptors_;
}

PacketSink::Slab* TunHandle::Room(size_t bytes) {
  if (slab_.IsEmpty() || room_.size - room_.used < bytes) NewSlab(Env());
  return &room_;
}

// Not with slab reuse (readBatches: a batch is done with when its handler
// returns, and a Buffer a batch would go uncollected for long).
bool TunHandle::Share(SharedSlab* slab, size_t offset, size_t span) {
  if (reuseSlab_) return false;
  Napi::Value buffer = WrapSlabPart(Env(), slab, offset, span);
  shared_ = buffer.IsEmpty() ? nullptr : static_cast<napi_value>(buffer);
  return shared_ != nullptr;
}

void TunHandle::HandOver(uint32_t count, double bytes) {
  napi_value slab = shared_ != nullptr ? shared_ : static_cast<napi_value>(slab_.Value());
  shared_ = nullptr;
  Call(kOnRead,
       {slab, descriptorsRef_.Value(), Napi::Number::New(Env(), count), Napi::Number::New(Env(), bytes)},
       inScope_);
}

Napi::Value TunHandle::StartReading(const Napi::CallbackInfo& info) {
  if (io_.fd() >= 0) {
    reading_ = true;
    UpdatePoll();
  }
  return info.Env().Undefined();
}

Napi::Value TunHandle::StopReading(const Napi::CallbackInfo& info) {
  reading_ = false;
  UpdatePoll();
  return info.Env().Undefined();
}

// setSlabReuse(on): from the next batch on, every batch is read into the
// start of the same slab, overwriting the last one.
Napi::Value TunHandle::SetSlabReuse(const Napi::CallbackInfo& info) {
  reuseSlab_ = info[0].As<Napi::Boolean>().Value();
  // The current slab may hold views handed out under the old promise.
  if (reuseSlab_) slab_.Reset();
  return info.Env().Undefined();
}

// setReadBudget(n): from now on, at most n packets (1..maxBatch) per onRead call.
Napi::Value TunHandle::SetReadBudget(const Napi::CallbackInfo& info) {
  readBudget_ = std::clamp<uint32_t>(info[0].As<Napi::Number>().Uint32Value(), 1, maxBatch_);
  return info.Env().Undefined();
}

// write(packet: Uint8Array) -> bytes written, or -errno
Napi::Value TunHandle::Write(const Napi::CallbackInfo& info) {
  auto packet = info[0].As<Napi::Uint8Array>();
  return Napi::Number::New(info.Env(), static_cast<double>(WritePacket(io_.fd(), packet.Data(), packet.ByteLength())));
}

// writeViews(buffers, descriptors: Float64Array, count) -> how many were tried; packet i is
// buffers[d[3i]][d[3i+1], +d[3i+2]), grouped so N-API is asked about each buffer once. Stops early
// only at EAGAIN or a closed fd; writeResults[i] holds bytes written or -errno.
Napi::Value TunHandle::WriteViews(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_value buffers = info[0];
  auto descriptors = info[1].As<Napi::Float64Array>();
  uint32_t count = std::min(info[2].As<Napi::Number>().Uint32Value(), writeResultsCapacity_);
  count = std::min<size_t>(count, descriptors.ElementLength() / 3);
  const double* d = descriptors.Data();
  double current = -1;
  const uint8_t* data = nullptr;
  size_t size = 0;
  uint32_t done = 0;
  for (; done < count && io_.fd() >= 0; done++) {
    if (d[3 * done] != current) {
      current = d[3 * done];
      napi_value value;
      void* base = nullptr;
      size = 0;
      if (napi_get_element(env, buffers, static_cast<uint32_t>(current), &value) != napi_ok ||
          napi_get_typedarray_info(env, value, nullptr, &size, &base, nullptr, nullptr) != napi_ok) {
        size = 0;
      }
      data = static_cast<const uint8_t*>(base);
    }
    // JS took these from live views; this is the last guard.
    double offset = d[3 * done + 1], length = d[3 * done + 2];
    if (!(offset >= 0 && length >= 0 && offset + length <= static_cast<double>(size))) {
      writeResults_[done] = -EINVAL;
      continue;
    }
    ssize_t n = WritePacket(io_.fd(), data + static_cast<size_t>(offset), static_cast<size_t>(length));
    if (n == -EAGAIN) break;
    writeResults_[done] = static_cast<int32_t>(n);
  }
  return Napi::Number::New(env, done);
}

// writeSlab(buffer, descriptors, start, count) -> how many were tried. Packet i is
// buffer[d[2i], d[2i] + d[2i+1]), as a read batch hands them out, so a forwarder passes a
// batch on with no JS object per packet. Results and early stops as writeViews.
Napi::Value TunHandle::WriteSlab(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto buffer = info[0].As<Napi::Uint8Array>();
  auto descriptors = info[1].As<Napi::Uint32Array>();
  uint32_t start = info[2].As<Napi::Number>().Uint32Value();
  uint32_t count = std::min(info[3].As<Napi::Number>().Uint32Value(), writeResultsCapacity_);
  const uint8_t* data = buffer.Data();
  const uint32_t* d = descriptors.Data();
  // JS checked every descriptor against the buffer; this is the last guard.
  size_t size = buffer.ByteLength(), pairs = descriptors.ElementLength() / 2;
  uint32_t done = 0;
  for (; done < count && io_.fd() >= 0 && start + done < pairs; done++) {
    uint32_t offset = d[2 * (start + done)], length = d[2 * (start + done) + 1];
    if (offset > size || length > size - offset) {
      writeResults_[done] = -EINVAL;
      continue;
    }
    ssize_t n = WritePacket(io_.fd(), data + offset, length);
    if (n == -EAGAIN) break;
    writeResults_[done] = static_cast<int32_t>(n);
  }
  return Napi::Number::New(env, done);
}

// stopReader(deliver) -> [packets, bytes] discarded, or undefined without a thread. Joins the thread
// first; with `deliver` its batches go to onRead in order, unless a read callback is running
// (the rest of its part would come after them), when they are discarded.
Napi::Value TunHandle::StopReader(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!reader_->threaded()) return env.Undefined();
  bool deliver = info[0].ToBoolean().Value() && !inRead_;
  reading_ = false;
  UpdatePoll();
  InRead inRead(this, true);
  double bytes = 0;
  uint32_t packets = reader_->StopThread(deliver ? this : nullptr, &bytes);
  inRead.End();
  Napi::Array rest = Napi::Array::New(env, 2);
  rest.Set(0u, Napi::Number::New(env, packets));
  rest.Set(1u, Napi::Number::New(env, bytes));
  return rest;
}

Napi::Value TunHandle::WaitWritable(const Napi::CallbackInfo& info) {
  if (io_.fd() >= 0) {
    waitingWritable_ = true;
    UpdatePoll();
  }
  return info.Env().Undefined();
}

}  // namespace tuntap
