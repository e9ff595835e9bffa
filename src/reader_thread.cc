#include "reader_thread.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <cstring>
#include <new>

#include "sys_io.h"

namespace tuntap {

namespace {

// An eventfd's counter, set or cleared; errors mean a closed fd, which the
// owner's order of teardown rules out.
void Signal(int fd) {
  uint64_t one = 1;
  SysWrite(fd, &one, sizeof one);
}

void Clear(int fd) {
  uint64_t value;
  SysRead(fd, &value, sizeof value);
}

// close_range(2) (Linux 5.9); the number is the same on every architecture.
#ifndef __NR_close_range
#define __NR_close_range 436
#endif

// Gives the calling thread a file descriptor table of its own holding only `keep` (sorted), so
// its reads skip the kernel's per-call file reference that a shared table costs (fdget()). The
// copy's other files are closed; where close_range or unshare is refused, the table stays shared.
void TableOfOwn(const int* keep, int count) {
  if (syscall(__NR_close_range, ~0U, ~0U, 0) != 0) return;  // probes close_range: ENOSYS
  if (unshare(CLONE_FILES) != 0) return;
  unsigned from = 0;
  for (int i = 0; i < count; i++) {
    unsigned fd = static_cast<unsigned>(keep[i]);
    if (fd > from) syscall(__NR_close_range, from, fd - 1, 0);
    from = fd + 1;
  }
  syscall(__NR_close_range, from, ~0U, 0);
}

}  // namespace

ReaderThread::ReaderThread(int fd, uint32_t maxPacketSize, uint32_t maxBatch, size_t slabBytes)
    : fd_(fd), maxPacketSize_(maxPacketSize), maxBatch_(maxBatch), slabBytes_(slabBytes) {}

ReaderThread::~ReaderThread() {
  Stop();
  Discard(nullptr);
  if (notifyFd_ >= 0) ::close(notifyFd_);
  if (controlFd_ >= 0) ::close(controlFd_);
}

int ReaderThread::Start(int cpu) {
  try {
    for (Slot& slot : slots_) slot.descriptors.reset(new uint32_t[2 * static_cast<size_t>(maxBatch_)]);
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  }
  notifyFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (notifyFd_ < 0) return errno;
  controlFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (controlFd_ < 0) return errno;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  // poll and read want little stack.
  pthread_attr_setstacksize(&attr, 256 * 1024);
  // Signals stay with Node's threads: the new thread starts with all blocked.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int err = pthread_create(&thread_, &attr, Main, this);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  pthread_attr_destroy(&attr);
  if (err != 0) return err;
  started_ = true;
  // As top(1) and /proc/PID/task/*/comm show it, from the moment open() returns.
  pthread_setname_np(thread_, "tuntap-reader");
  // And with its own fd table by then: a file the process closes after
  // open() returns is closed, not kept open by the thread's copy.
  {
    std::unique_lock<std::mutex> lock(readyMutex_);
    readyCondition_.wait(lock, [this] { return ready_; });
  }
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    err = pthread_setaffinity_np(thread_, sizeof set, &set);
    if (err != 0) {
      Stop();
      return err;
    }
  }
  return 0;
}

void ReaderThread::Stop() {
  if (!started_) return;
  started_ = false;
  stop_ = true;
  Signal(controlFd_);
  pthread_join(thread_, nullptr);
}

uint32_t ReaderThread::Discard(double* bytes) {
  Stop();  // the thread publishes nothing more
  uint32_t packets = 0;
  double total = 0;
  const uint32_t head = head_;
  for (uint32_t i = head; i != tail_; i++) {
    Slot& slot = slots_[i % kSlots];
    // The loop took the front batch's first position_ packets already.
    for (uint32_t k = i == head ? position_ : 0; k < slot.count; k++, packets++) total += slot.descriptors[2 * k + 1];
    if (slot.slab != nullptr) slot.slab->Unref();
    slot.slab = nullptr;
    slot.count = 0;
  }
  head_ = tail_.load();
  position_ = 0;
  if (bytes != nullptr) *bytes = total;
  return packets;
}

void* ReaderThread::Main(void* self) {
  static_cast<ReaderThread*>(self)->Run();
  return nullptr;
}

bool ReaderThread::MayRead() const { return active_ && !parked_ && tail_ - head_ < kInFlight; }

void ReaderThread::Run() {
  int keep[] = {fd_, notifyFd_, controlFd_};
  std::sort(std::begin(keep), std::end(keep));
  TableOfOwn(keep, 3);
  {
    std::lock_guard<std::mutex> lock(readyMutex_);
    ready_ = true;
  }
  readyCondition_.notify_one();
  // poll reported an error on the fd: a read then gives the kernel's reason
  // (EBADFD: the device was deleted), or EIO if it finds nothing.
  bool polledError = false;
  // Batches published that the loop thread has not been told of.
  bool untold = false;
  uint32_t lightStreak = 0;
  while (!stop_) {
    if (!MayRead()) {
      if (untold) Signal(notifyFd_);
      untold = false;
      SleepWhile([this] { return !MayRead(); });
      continue;
    }
    uint32_t tail = tail_;
    Slot& slot = slots_[tail % kSlots];
    // The batch is built in locals and published once: the loop thread reads
    // the slots (other ones) meanwhile, and a store per packet to memory it
    // reads would move cache lines between the cores for every packet.
    if (slab_ == nullptr || slabBytes_ - slabUsed_ < maxPacketSize_) {
      // On to a fresh slab: this one's memory goes back to the pool once the
      // loop and JS are done with what was read into it.
      if (slab_ != nullptr) slab_->Unref();
      slab_ = SharedSlab::New(slabBytes_);
      slabUsed_ = 0;
    }
    uint8_t* data = slab_ != nullptr ? slab_->data() : nullptr;
    uint32_t* descriptors = slot.descriptors.get();
    uint32_t count = 0;
    int error = slab_ == nullptr ? ENOMEM : 0;
    size_t used = slabUsed_;
    bool empty = false;
    while (error == 0 && count < maxBatch_ && slabBytes_ - used >= maxPacketSize_) {
      ssize_t n = SysRead(fd_, data + used, maxPacketSize_);
      if (n > 0) {
        descriptors[2 * count] = static_cast<uint32_t>(used);
        descriptors[2 * count + 1] = static_cast<uint32_t>(n);
        used += SlabPlace(static_cast<size_t>(n));
        count++;
        continue;
      }
      if (n < 0 && n != -EAGAIN) {
        error = static_cast<int>(-n);
      } else if (polledError) {
        error = EIO;
      } else {
        empty = true;
      }
      break;
    }
    lightStreak = empty && count <= kLightBatch ? lightStreak + 1 : 0;
    bool handBack = lightStreak >= kLightStreak && error == 0;
    slabUsed_ = used;
    if (count > 0 || error != 0 || handBack) {
      slot.slab = count > 0 ? slab_ : nullptr;
      if (count > 0) slab_->Ref();
      slot.count = count;
      slot.error = error;
      slot.handBack = handBack;
      // Parked before the loop thread can see the mark: once it does, it
      // reads the fd, and may Engage() the thread again at once.
      if (handBack) {
        parked_ = true;
        lightStreak = 0;
      }
      tail_ = tail + 1;
      untold = true;
    }
    // Told at once when the kernel has nothing more or on an error; under load, once kTellAt
    // batches wait, since waking the loop thread on the other core costs this thread about as
    // much as the reads it could make meanwhile.
    if (untold && (empty || error != 0 || handBack || tail_ - head_ >= kTellAt)) {
      Signal(notifyFd_);
      untold = false;
    }
    if (error != 0) break;
    if (empty && !handBack) polledError = WaitReadable();
  }
  if (slab_ != nullptr) slab_->Unref();
  slab_ = nullptr;
  // After an error the thread is done: it waits here only so that Stop()
  // finds it (nothing else to do; the loop thread joins it).
  while (!stop_) SleepWhile([] { return true; });
}

// Waits for packets or a word from the loop thread (the caller then looks
// again at what it may do). True when poll reported an error on the TUN fd
// with nothing to read.
bool ReaderThread::WaitReadable() {
  struct pollfd fds[2] = {{fd_, POLLIN, 0}, {controlFd_, POLLIN, 0}};
  if (::poll(fds, 2, -1) < 0) return false;  // EINTR: look again
  if ((fds[1].revents & POLLIN) != 0) Clear(controlFd_);
  return (fds[0].revents & POLLIN) == 0 && (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
}

void ReaderThread::ClearControl() { Clear(controlFd_); }

void ReaderThread::Wake() {
  if (sleeping_) Signal(controlFd_);
}

void ReaderThread::Engage() {
  parked_ = false;
  Wake();
}

void ReaderThread::SetActive(bool active) {
  if (active_ == active) return;
  active_ = active;
  if (active) Wake();
}

bool ReaderThread::Ready() const { return head_ != tail_; }

void ReaderThread::ClearNotify() { Clear(notifyFd_); }

void ReaderThread::Renotify() { Signal(notifyFd_); }

void ReaderThread::Pop() {
  Slot& slot = slots_[head_ % kSlots];
  if (slot.slab != nullptr) slot.slab->Unref();
  slot.slab = nullptr;
  position_ = 0;
  head_ = head_ + 1;
  Wake();
}

bool ReaderThread::Peek(uint32_t limit, Packets* run) {
  for (;;) {
    uint32_t head = head_;
    if (head == tail_) {
      errno = EAGAIN;
      return false;
    }
    Slot& slot = slots_[head % kSlots];
    if (position_ < slot.count) {
      run->slab = slot.slab;
      run->descriptors = slot.descriptors.get() + 2 * static_cast<size_t>(position_);
      run->count = std::min(limit, slot.count - position_);
      return true;
    }
    int error = slot.error;
    bool handBack = slot.handBack;
    Pop();
    if (error != 0) {
      errno = error;
      return false;
    }
    if (handBack) {
      handedBack_ = true;
      errno = EAGAIN;
      return false;
    }
  }
}

void ReaderThread::Consume(uint32_t n) {
  Slot& slot = slots_[head_ % kSlots];
  position_ += n;
  if (position_ == slot.count && slot.error == 0 && !slot.handBack) Pop();
}

PacketReader::PacketReader(int fd, uint32_t maxPacketSize, uint32_t maxBatch, size_t slabBytes)
    : fd_(fd), maxPacketSize_(maxPacketSize), maxBatch_(maxBatch), slabBytes_(slabBytes) {}

int PacketReader::StartThread(int cpu) {
  auto thread = std::make_unique<ReaderThread>(fd_, maxPacketSize_, maxBatch_, slabBytes_);
  int err = thread->Start(cpu);
  if (err == 0) thread_ = std::move(thread);
  return err;
}

void PacketReader::Close() {
  threadReads_ = false;
  thread_.reset();
  fd_ = -1;
}

PacketReader::Interest PacketReader::Poll(bool reading) {
  if (thread_ == nullptr) return {reading, false};
  thread_->SetActive(reading);
  // What a paused wake-up left in the ring was told of already.
  if (reading && threadReads_ && thread_->Ready()) thread_->Renotify();
  return {reading && !threadReads_, reading && threadReads_};
}

void PacketReader::Deliver(PacketSink& sink, bool fromThread, uint32_t budget) {
  if (!fromThread) {
    if (threadReads_) return;
    // A wake-up that took all it may and left packets in the kernel: the queue is busy, and the
    // thread reads from now on. The loop stops polling the fd first, so the two never read at once.
    if (ReadBatch(sink, budget) && thread_ != nullptr && sink.Reading()) {
      threadReads_ = true;
      sink.Repoll();
      thread_->Engage();
    }
    return;
  }
  if (thread_ == nullptr) return;
  thread_->ClearNotify();
  ReadBatch(sink, budget);
  if (thread_ == nullptr) return;  // closed by a handler
  if (thread_->TakeHandBack()) {
    // The thread parked after its last batch: the loop reads the fd again.
    threadReads_ = false;
    sink.Repoll();
    return;
  }
  // A bounded wake-up may leave batches: wake again next turn, as the
  // level-triggered poll of the fd does in the other mode.
  if (sink.Reading() && thread_->Ready()) thread_->Renotify();
}

uint32_t PacketReader::StopThread(PacketSink* sink, double* bytes) {
  *bytes = 0;
  if (thread_ == nullptr) return 0;
  thread_->Stop();
  Part part;
  // Each part takes at least a packet or a finished slot off the ring.
  while (sink != nullptr && thread_ != nullptr && thread_->Ready() && sink->Open()) ThreadPart(*sink, maxBatch_, &part);
  return thread_ != nullptr ? thread_->Discard(bytes) : 0;
}

bool PacketReader::ReadBatch(PacketSink& sink, uint32_t budget) {
  uint32_t total = 0;
  double bytes = 0;
  Part part;
  for (;;) {
    uint32_t limit = std::min(budget, maxBatch_ - total);
    if (threadReads_) {
      ThreadPart(sink, limit, &part);
    } else {
      LoopPart(sink, limit, &part);
    }
    total += part.count;
    bytes += part.bytes;
    // The thread's batches end where its slabs do: a part that stopped
    // there (or where the JS slab filled) is followed by the next.
    bool partEnded = part.count < limit && !(threadReads_ && part.count > 0 && part.stop == 0);
    if (partEnded || total >= maxBatch_ || !sink.Reading()) break;
  }
  // Packets left in the kernel after a full batch, or after half a slab's
  // bytes (a slab that filled says nothing of what is left: at a light load
  // a packet now and then is the one that fills it).
  return part.stop == 0 && (total >= maxBatch_ || bytes >= static_cast<double>(slabBytes_) / 2);
}

void PacketReader::LoopPart(PacketSink& sink, uint32_t limit, Part* part) {
  *part = Part();
  uint32_t* descriptors = sink.BeginPart();
  PacketSink::Slab* slab = sink.Room(maxPacketSize_);
  uint32_t got = 0;
  double bytes = 0;
  size_t used = slab->used;
  while (got < limit && slab->size - used >= maxPacketSize_) {
    ssize_t n = SysRead(fd_, slab->data + used, maxPacketSize_);
    if (n <= 0) {
      // No packet (TUN reads are never empty): as at an empty ring.
      part->stop = n == 0 ? EAGAIN : static_cast<int>(-n);
      break;
    }
    descriptors[2 * got] = static_cast<uint32_t>(used);
    descriptors[2 * got + 1] = static_cast<uint32_t>(n);
    used += SlabPlace(static_cast<size_t>(n));
    got++;
    bytes += static_cast<double>(n);
  }
  slab->used = used;
  slab->packets += got;
  part->count = got;
  part->bytes = bytes;
  if (got > 0) sink.HandOver(got, bytes);
  // The handler may have closed the device or stopped JS.
  if (part->stop != 0 && part->stop != EAGAIN) sink.Failed(part->stop);
}

// The thread's front batch, as LoopPart hands packets: wrapped where WrapsPart says, else copied.
void PacketReader::ThreadPart(PacketSink& sink, uint32_t limit, Part* part) {
  *part = Part();
  uint32_t* descriptors = sink.BeginPart();
  ReaderThread::Packets run;
  if (!thread_->Peek(limit, &run)) {
    part->stop = errno;
    if (part->stop != EAGAIN) sink.Failed(part->stop);
    return;
  }
  const uint32_t* d = run.descriptors;
  const size_t first = d[0];
  const size_t span = d[2 * (run.count - 1)] + d[2 * run.count - 1] - first;
  uint32_t got = 0;
  double bytes = 0;
  if (WrapsPart(span, run.count) && sink.Share(run.slab, first, span)) {
    for (; got < run.count; got++) {
      descriptors[2 * got] = static_cast<uint32_t>(d[2 * got] - first);
      descriptors[2 * got + 1] = d[2 * got + 1];
      bytes += d[2 * got + 1];
    }
  } else {
    PacketSink::Slab* slab = sink.Room(d[1]);
    for (; got < run.count && slab->size - slab->used >= d[2 * got + 1]; got++) {
      memcpy(slab->data + slab->used, run.slab->data() + d[2 * got], d[2 * got + 1]);
      descriptors[2 * got] = static_cast<uint32_t>(slab->used);
      descriptors[2 * got + 1] = d[2 * got + 1];
      slab->used += SlabPlace(d[2 * got + 1]);
      slab->packets++;
      bytes += d[2 * got + 1];
    }
  }
  // Taken before JS runs: a handler may stop or close the reader.
  thread_->Consume(got);
  part->count = got;
  part->bytes = bytes;
  sink.HandOver(got, bytes);
}

}  // namespace tuntap
