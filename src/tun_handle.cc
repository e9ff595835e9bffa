#include "tun_handle.h"

#include <sys/syscall.h>
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

namespace tuntap {

namespace {

// Raw system calls: glibc's read() and write() are cancellation points, two atomic updates per
// packet in a multi-threaded process, and nothing here uses pthread cancellation.
inline ssize_t SysRead(int fd, void* buffer, size_t length) { return syscall(SYS_read, fd, buffer, length); }
inline ssize_t SysWrite(int fd, const void* buffer, size_t length) { return syscall(SYS_write, fd, buffer, length); }

// One packet, one write(2): bytes written or -errno (-EBADF once closed).
ssize_t WritePacket(int fd, const uint8_t* data, size_t length) {
  if (fd < 0) return -EBADF;
  ssize_t n;
  do {
    n = SysWrite(fd, data, length);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

}  // namespace

namespace {

// Every fd a TunHandle holds, across the process's environments: the number
// is the kernel's, shared by all threads, so a second wrap of the same fd
// (fromFd on a queue this process already drives) is refused rather than
// allowed to close the first one's fd under it.
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

// new TunHandle(fd: OwnedFd, maxPacketSize, maxBatch, writeResults: Int32Array,
//               onRead(slab, descriptors, count, bytes), onWritable(), onError(errno, syscall),
//               readerThread: boolean, readerCpu: number (-1: any))
// The handle takes the fd over first thing, whatever happens next; the one
// exception is an fd another TunHandle already holds (EEXIST), which stays
// with that handle (the OwnedFd lets go of it, unclosed).
TunHandle::TunHandle(const Napi::CallbackInfo& info) : PolledHandle<TunHandle>(info, "TunHandle") {
  Napi::Env env = info.Env();
  if (OwnsFd(OwnedFd::Peek(env, info[0]))) {
    OwnedFd::Forget(env, info[0]);
    throw ErrnoError(env, EEXIST, "TunHandle");
  }
  int fd = OwnedFd::Take(env, info[0]);
  try {
    maxPacketSize_ = info[1].As<Napi::Number>().Uint32Value();
    maxBatch_ = std::max<uint32_t>(1, info[2].As<Napi::Number>().Uint32Value());
    readBudget_ = maxBatch_;
    auto results = info[3].As<Napi::Int32Array>();
    writeResults_ = results.Data();
    writeResultsCapacity_ = static_cast<uint32_t>(results.ElementLength());
    writeResultsRef_ = Napi::Persistent(results.As<Napi::Object>());
    SetCallbacks(info, {info[4].As<Napi::Function>(), info[5].As<Napi::Function>(), info[6].As<Napi::Function>()});
    NewDescriptors(env);
  } catch (...) {
    ::close(fd);
    throw;
  }
  // Room for many usual packets and always one of the largest. 1 MiB because each slab has a fixed
  // cost (an external Buffer, its finalizer, page faults); the price is that a kept packet pins it.
  slabSize_ = std::max<size_t>(1024 * 1024, 4 * static_cast<size_t>(maxPacketSize_));
  Adopt(env, fd);  // closes fd if it fails
  if (info.Length() > 7 && info[7].ToBoolean().Value()) {
    try {
      StartThread(env, info.Length() > 8 ? info[8].As<Napi::Number>().Int32Value() : -1);
    } catch (...) {
      Release();
      throw;
    }
  }
  std::lock_guard<std::mutex> lock(ownedFdsMutex);
  OwnedFds().insert(fd);
}

TunHandle::~TunHandle() { Release(); }

// The thread's eventfd is polled on the loop like the fd itself, so the
// wrapper's strong reference, ref/unref and teardown cover it the same way.
void TunHandle::StartThread(Napi::Env env, int cpu) {
  auto thread = std::make_unique<ReaderThread>(io_.fd(), maxPacketSize_, maxBatch_, slabSize_);
  int err = thread->Start(cpu);
  if (err != 0) throw ErrnoError(env, err, cpu >= 0 && err == EINVAL ? "sched_setaffinity" : "pthread_create");
  int notify = dup(thread->notifyFd());
  if (notify < 0) throw ErrnoError(env, errno, "dup");
  notify_.Init(env, notify, this, OnPoll<&TunHandle::OnNotify>);
  AlsoPoll(&notify_);
  thread_ = std::move(thread);
}

void TunHandle::BeforeRelease() {
  reading_ = false;
  waitingWritable_ = false;
  // Joined before the fd closes: the thread never reads a closed (or reused) fd.
  threadReads_ = false;
  thread_.reset();
  notify_.Close();
  std::lock_guard<std::mutex> lock(ownedFdsMutex);
  OwnedFds().erase(io_.fd());
}

void TunHandle::AfterClose() {
  slab_.Reset();
  slabData_ = nullptr;
}

void TunHandle::UpdatePoll() {
  if (thread_ != nullptr) {
    thread_->SetActive(reading_);
    Watch(notify_, reading_ && threadReads_ ? UV_READABLE : 0);
    // What a paused wake-up left in the ring was told of already.
    if (reading_ && threadReads_ && thread_->Ready()) thread_->Renotify();
  }
  Watch((reading_ && !threadReads_ ? UV_READABLE : 0) | (waitingWritable_ ? UV_WRITABLE : 0));
}

// The reader thread has batches ready (or an error for us).
void TunHandle::OnNotify(int status, int events) {
  if (status < 0) {
    OnNativeFailure(-status);
    return;
  }
  Napi::Env env = Env();
  if (!reading_ || io_.fd() < 0 || thread_ == nullptr) return;
  thread_->ClearNotify();
  ReadBatch(env);
  if (thread_ == nullptr) return;  // closed by a handler
  if (thread_->TakeHandBack()) {
    // The thread parked after its last batch: the loop reads the fd again.
    threadReads_ = false;
    UpdatePoll();
    return;
  }
  // A bounded wake-up may leave batches: wake again next turn, as the
  // level-triggered poll of the fd does in the other mode.
  if (reading_ && thread_->Ready()) thread_->Renotify();
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
  Napi::Env env = Env();
  if (status < 0) {
    // libuv reports EPOLLERR as EBADF; the kernel's own reason (EBADFD when
    // the device was deleted under us) comes from a read.
    int err = -status;
    uint8_t probe;
    if (::read(io_.fd(), &probe, 0) < 0 && errno != EAGAIN) err = errno;
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
  if ((events & UV_READABLE) == 0 || !reading_ || threadReads_ || io_.fd() < 0 || !JsAllowed()) return;
  bool more = ReadBatch(env);
  // A wake-up that took all it may (maxBatch_ packets, or a full slab) and
  // left packets in the kernel: the queue is busy, and the reader thread (if
  // there is one) reads from now on. The loop has stopped reading (UpdatePoll
  // before Engage), so the two never read at once.
  if (more && thread_ != nullptr && reading_ && io_.fd() >= 0) {
    threadReads_ = true;
    UpdatePoll();
    thread_->Engage();
  }
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
  // Pooled memory (slab_pool.h) for usual sizes; V8's own after large packets, whose few view
  // objects rarely trigger the young collections that give pooled slabs back, so those pile up
  // until a major collection.
  bool large = slabPackets_ > 0 && slabUsed_ / slabPackets_ >= kLargePacket;
  slab_ = Napi::Persistent(large ? NewHeapSlab(env, slabSize_, &slabData_) : NewPooledSlab(env, slabSize_, &slabData_));
  slabUsed_ = 0;
  slabPackets_ = 0;
}

bool TunHandle::ReadBatch(Napi::Env env) {
  // Bounded so one busy device cannot starve the loop (libuv's poll is level-triggered). One
  // callback scope around all parts, so Node runs `readable`'s nextTick work and the microtasks
  // once per wake-up, not once per part.
  napi_callback_scope scope = nullptr;
  if (napi_open_callback_scope(env, Value(), AsyncContext(), &scope) != napi_ok) scope = nullptr;
  InRead inRead(this);
  uint32_t total = 0;
  double bytes = 0;
  Part part;
  for (;;) {
    uint32_t limit = std::min(readBudget_, maxBatch_ - total);
    if (threadReads_) {
      ReadThreadPart(env, limit, scope != nullptr, &part);
    } else {
      ReadPart(env, limit, scope != nullptr, &part);
    }
    total += part.count;
    bytes += part.bytes;
    // The thread's batches end where its slabs do: a part that stopped
    // there (or where the JS slab filled) is followed by the next.
    bool partEnded = part.count < limit && !(threadReads_ && part.count > 0 && part.stop == 0);
    if (partEnded || total >= maxBatch_ || !reading_ || io_.fd() < 0 || !JsAllowed()) break;
  }
  inRead.End();
  if (scope != nullptr) napi_close_callback_scope(env, scope);
  // Packets left in the kernel after a full batch, or after half a slab's
  // bytes (a slab that filled says nothing of what is left: at a light load
  // a packet now and then is the one that fills it).
  return part.stop == 0 && (total >= maxBatch_ || bytes >= static_cast<double>(slabSize_) / 2);
}

// Reads up to `limit` packets and hands them to JS. Fewer than `limit`: it
// stopped at EAGAIN, an error, or a full slab (part->stop says which).
void TunHandle::ReadPart(Napi::Env env, uint32_t limit, bool inScope, Part* part) {
  *part = Part();
  BeginPart(env);
  uint32_t got = 0;
  double bytes = 0;
  while (got < limit && SlabRoom(env, maxPacketSize_, got > 0)) {
    ssize_t n = SysRead(io_.fd(), slabData_ + slabUsed_, maxPacketSize_);
    if (n < 0) {
      if (errno == EINTR) continue;
      part->stop = errno;
      break;
    }
    if (n == 0) {
      part->stop = EAGAIN;  // no packet (TUN reads are never empty): as at an empty ring
      break;
    }
    Placed(got++, static_cast<size_t>(n));
    bytes += static_cast<double>(n);
  }
  part->count = got;
  part->bytes = bytes;
  if (got > 0) HandOver(env, slab_.Value(), got, bytes, inScope);
  // The handler may have closed the device or stopped JS.
  if (part->stop != 0 && part->stop != EAGAIN) ReportError(part->stop, "read");
}

// Up to `limit` packets of the reader thread's front batch, as ReadPart hands them. A part of
// kWrapBytes or more goes as a Buffer over the thread's slab (no copy); a smaller one is copied,
// since a Buffer of its own (creation, finalizer, collection) costs about as much as the copy.
void TunHandle::ReadThreadPart(Napi::Env env, uint32_t limit, bool inScope, Part* part) {
  *part = Part();
  BeginPart(env);
  ReaderThread::Packets run;
  if (!thread_->Peek(limit, &run)) {
    part->stop = errno;
    if (part->stop != EAGAIN) ReportError(part->stop, "read");
    return;
  }
  const uint32_t* d = run.descriptors;
  const size_t first = d[0];
  const size_t span = d[2 * (run.count - 1)] + d[2 * run.count - 1] - first;
  Napi::Value buffer;
  // Not with slab reuse (readBatches: a batch is done with when its handler
  // returns, and a Buffer a batch would go uncollected for long), nor for
  // large packets (see NewSlab: V8 collects its own memory sooner).
  if (span >= kWrapBytes && !reuseSlab_ && span < run.count * kLargePacket) {
    buffer = WrapSlabPart(env, run.slab, first, span);
  }
  uint32_t got = 0;
  double bytes = 0;
  if (!buffer.IsEmpty()) {
    for (; got < run.count; got++) {
      descriptors_[2 * got] = static_cast<uint32_t>(d[2 * got] - first);
      descriptors_[2 * got + 1] = d[2 * got + 1];
      bytes += d[2 * got + 1];
    }
  } else {
    for (; got < run.count && SlabRoom(env, d[2 * got + 1], got > 0); got++) {
      memcpy(slabData_ + slabUsed_, run.slab->data() + d[2 * got], d[2 * got + 1]);
      Placed(got, d[2 * got + 1]);
      bytes += d[2 * got + 1];
    }
    buffer = slab_.Value();
  }
  thread_->Consume(got);
  part->count = got;
  part->bytes = bytes;
  HandOver(env, buffer, got, bytes, inScope);
}

// What every part does first: arrays user code detached are replaced, never written. With slab
// reuse every batch goes in the same memory, which stays in the cache and allocates nothing.
void TunHandle::BeginPart(Napi::Env env) {
  if (Detached(env, descriptorsRef_)) NewDescriptors(env);
  if (!slab_.IsEmpty() && Detached(env, slab_)) slab_.Reset();
  if (reuseSlab_) slabUsed_ = slabPackets_ = 0;
}

// Whether the JS slab has `bytes` free. A part's packets all live in one
// slab: a part that has packets ends when it is full, and one that has none
// gets a fresh slab.
bool TunHandle::SlabRoom(Napi::Env env, size_t bytes, bool partHasPackets) {
  if (!slab_.IsEmpty() && slabSize_ - slabUsed_ >= bytes) return true;
  if (partHasPackets) return false;
  NewSlab(env);
  return true;
}

// Packet i of the part, `length` bytes just put at slabUsed_ in the JS slab.
void TunHandle::Placed(uint32_t i, size_t length) {
  descriptors_[2 * i] = static_cast<uint32_t>(slabUsed_);
  descriptors_[2 * i + 1] = static_cast<uint32_t>(length);
  slabUsed_ += SlabPlace(length);
  slabPackets_++;
}

void TunHandle::HandOver(Napi::Env env, Napi::Value slab, uint32_t count, double bytes, bool inScope) {
  Call(kOnRead, {slab, descriptorsRef_.Value(), Napi::Number::New(env, count), Napi::Number::New(env, bytes)}, inScope);
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

// writeSlab(buffer: Uint8Array, descriptors: Uint32Array, start, count) ->
// how many were tried. Packet i is buffer[d[2i], d[2i] + d[2i+1]), as a read
// batch hands them out, so a forwarder passes a batch on without one JS object
// per packet. Results and early stops as writeViews.
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
  if (thread_ == nullptr) return env.Undefined();
  bool deliver = info[0].ToBoolean().Value() && !inRead_;
  reading_ = false;
  UpdatePoll();
  thread_->Stop();
  if (deliver) {
    InRead inRead(this);
    Part part;
    // Each part takes at least a packet or a finished slot off the ring.
    while (thread_ != nullptr && thread_->Ready() && io_.fd() >= 0 && JsAllowed()) {
      ReadThreadPart(env, maxBatch_, true, &part);
    }
  }
  double bytes = 0;
  uint32_t packets = thread_ != nullptr ? thread_->Discard(&bytes) : 0;
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
