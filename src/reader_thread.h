// PacketReader: where a TunHandle's packets come from, read on the loop thread when the fd polls
// readable, or by its opt-in ReaderThread (TunDeviceOptions.readerThread), which reads a busy queue
// while JS handles the batches before (figures: docs/guide/performance.md).
#pragma once
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include <poll.h>
#include <pthread.h>

#include "slab_pool.h"

namespace tuntap {

class ReaderThread {
 public:
  static constexpr uint32_t kSlots = 16;  // batches in the ring
  // Deep enough that the thread reads on while JS pauses (a collection, a slow handler).
  static constexpr uint32_t kInFlight = 12;  // batches read ahead of the loop, at most
  static constexpr uint32_t kTellAt = 2;     // batches ready before the loop is told, while more wait
  // The thread reads only while the queue is busy, and hands the fd back to the loop thread after
  // this many batches in a row that emptied the kernel's ring with at most kLightBatch packets.
  // One side reads at a time, each after the other stopped, so packets keep their order.
  static constexpr uint32_t kLightStreak = 16;
  static constexpr uint32_t kLightBatch = 4;

  // Reads fd in parts of maxPacketSize bytes, at most maxBatch packets a
  // batch, into pooled slabs of slabBytes. Start() must succeed before anything else.
  ReaderThread(int fd, uint32_t maxPacketSize, uint32_t maxBatch, size_t slabBytes);
  ~ReaderThread();
  ReaderThread(const ReaderThread&) = delete;
  ReaderThread& operator=(const ReaderThread&) = delete;

  // Makes the eventfds and starts the thread (inactive), on CPU `cpu` only
  // if that is not negative; 0 or an errno (EINVAL: no such CPU for us).
  int Start(int cpu);
  // Stops and joins the thread; idempotent. PacketReader::Close calls it before the fd closes, so the thread never
  // reads a closed or reused fd. Published batches stay for Peek().
  void Stop();
  // Drops every batch the loop has not taken: the packets (and *bytes).
  uint32_t Discard(double* bytes);

  // The loop thread's side. ---------------------------------------------------
  // Readable (level: its counter stays set) while batches are ready.
  int notifyFd() const { return notifyFd_; }
  // Whether the thread may take packets from the kernel.
  void SetActive(bool active);
  // The loop thread gives the reading to the thread (it stops reading the fd
  // itself first): the thread reads from now on, until it hands back.
  void Engage();
  // Whether the last Peek() ended at the thread's hand-back: the ring is
  // empty, the thread parked, and the loop thread reads the fd from now on.
  bool TakeHandBack() {
    bool handedBack = handedBack_;
    handedBack_ = false;
    return handedBack;
  }
  // The front batch's next packets (at most `limit`, in one slab): true and *run
  // set, valid until Consume(); or false with errno set (EAGAIN: nothing ready;
  // else the thread's read error).
  struct Packets {
    SharedSlab* slab;
    const uint32_t* descriptors;  // [offset in the slab, length] pairs
    uint32_t count;
  };
  bool Peek(uint32_t limit, Packets* run);
  // The first n packets of the last Peek() are taken.
  void Consume(uint32_t n);
  // Whether Peek() has something (a packet or an error) now.
  bool Ready() const;
  // Resets the eventfd's counter; call before Take()-ing what is ready.
  void ClearNotify();
  // Sets it again: for what is left after a bounded wake-up.
  void Renotify();

 private:
  // The thread touches only the fd, its slab and the eventfds, never N-API nor memory a JS Buffer
  // covers. A cache line each slot (and index below): one side's writes never share the other's.
  struct alignas(64) Slot {
    SharedSlab* slab = nullptr;               // a reference, dropped when the loop takes the batch
    std::unique_ptr<uint32_t[]> descriptors;  // [offset in the slab, length] pairs
    uint32_t count = 0;
    int error = 0;
    bool handBack = false;  // the thread's last batch before it parks
  };

  static void* Main(void* self);
  void Run();
  // Waits while `blocked()` holds, until the loop thread frees a slot, resumes
  // or stops. sleeping_ and the state are sequentially consistent: either the
  // loop thread sees sleeping_ and signals, or blocked() sees its change.
  template <typename Blocked>
  void SleepWhile(Blocked blocked) {
    sleeping_ = true;
    if (!stop_ && blocked()) {
      struct pollfd control = {controlFd_, POLLIN, 0};
      ::poll(&control, 1, -1);
    }
    sleeping_ = false;
    ClearControl();
  }
  void ClearControl();
  bool MayRead() const;
  bool WaitReadable();
  void Wake();
  void Pop();

  const int fd_;
  const uint32_t maxPacketSize_;
  const uint32_t maxBatch_;
  const size_t slabBytes_;
  Slot slots_[kSlots];
  int notifyFd_ = -1;   // thread -> loop: batches are ready
  int controlFd_ = -1;  // loop -> thread: a slot is free, a resume, the stop
  pthread_t thread_{};
  bool started_ = false;
  // Start() returns once the thread has its own fd table.
  std::mutex readyMutex_;
  std::condition_variable readyCondition_;
  bool ready_ = false;

  // Shared. Every access is sequentially consistent: the sleeping_ /
  // state handshake (SleepWhile, Wake) needs it, and nothing here is hot enough
  // to want less.
  alignas(64) std::atomic<uint32_t> head_{0};  // next slot the loop takes (loop writes)
  alignas(64) std::atomic<uint32_t> tail_{0};  // next slot the thread fills (thread writes)
  alignas(64) std::atomic<bool> active_{false};
  std::atomic<bool> parked_{true};  // the loop thread reads (set by the thread, cleared by Engage)
  std::atomic<bool> stop_{false};
  std::atomic<bool> sleeping_{false};

  // The thread's own: the slab it reads into, and how much of it is used.
  SharedSlab* slab_ = nullptr;
  size_t slabUsed_ = 0;

  // The loop thread's own: where it is in the front slot.
  alignas(64) uint32_t position_ = 0;
  bool handedBack_ = false;
};

// What a PacketReader hands packets to (TunHandle): a part at a time, in the sink's slab or in
// a Buffer over the reader thread's. Calls per part, never per packet.
class PacketSink {
 public:
  // The sink's slab: `used` of `size` bytes at `data` taken, by `packets` packets.
  struct Slab {
    uint8_t* data = nullptr;
    size_t used = 0;
    size_t size = 0;
    size_t packets = 0;
  };
  // A part begins: the [offset, length] pairs array to fill.
  virtual uint32_t* BeginPart() = 0;
  // The slab with `bytes` free at least (a fresh one if need be); a part's packets share a slab.
  virtual Slab* Room(size_t bytes) = 0;
  // Asks for this part in a Buffer over [offset, offset + span) of `slab`; false: copy it.
  virtual bool Share(SharedSlab* slab, size_t offset, size_t span) = 0;
  // The part's `count` packets, `bytes` in all, to JS (in the shared Buffer if Share() said so).
  virtual void HandOver(uint32_t count, double bytes) = 0;
  virtual void Failed(int err) = 0;
  // Whether packets may still be handed over: open and JS callable; Reading(): and JS reads.
  virtual bool Open() = 0;
  virtual bool Reading() = 0;
  // The reader changed which fd is to be polled (Poll()).
  virtual void Repoll() = 0;

 protected:
  ~PacketSink() = default;
};

// One reading side at a time: the loop thread reads the fd when it polls readable; with a thread,
// a wake-up that left the queue busy engages the thread, which reads until it hands back.
class PacketReader {
 public:
  // Reads fd (not owned) in parts of maxPacketSize bytes, at most maxBatch packets a wake-up.
  PacketReader(int fd, uint32_t maxPacketSize, uint32_t maxBatch, size_t slabBytes);
  ~PacketReader() { Close(); }
  PacketReader(const PacketReader&) = delete;
  PacketReader& operator=(const PacketReader&) = delete;

  // Starts a reader thread (ReaderThread::Start): 0 or an errno.
  int StartThread(int cpu);
  bool threaded() const { return thread_ != nullptr; }
  // The thread's eventfd: readable while its batches wait.
  int notifyFd() const { return thread_->notifyFd(); }
  // Which fd to poll for reading, the device's or notifyFd(), while JS reads or not.
  struct Interest {
    bool fd;
    bool notify;
  };
  Interest Poll(bool reading);
  // One wake-up's batch to `sink`, at most `budget` packets a part, from the fd if it polled
  // readable, else from the thread; switches sides as the load says.
  void Deliver(PacketSink& sink, bool fromThread, uint32_t budget);
  // Joins the thread; with a sink, hands it what the thread published first. What was left:
  // the packets (and *bytes).
  uint32_t StopThread(PacketSink* sink, double* bytes);
  // Before the fd closes: the thread never reads a closed (or reused) fd.
  void Close();

 private:
  struct Part {
    uint32_t count = 0;  // packets
    double bytes = 0;
    int stop = 0;  // why it stopped, if not at its limit: 0 (the slab is full), EAGAIN, another errno
  };
  // Whether the queue looks busy: it read a full batch, or half a slab's
  // bytes, and stopped without reaching EAGAIN.
  bool ReadBatch(PacketSink& sink, uint32_t budget);
  // Up to `limit` packets to the sink; fewer: it stopped at EAGAIN, an error, or a full slab.
  void LoopPart(PacketSink& sink, uint32_t limit, Part* part);
  void ThreadPart(PacketSink& sink, uint32_t limit, Part* part);

  int fd_;
  const uint32_t maxPacketSize_;
  const uint32_t maxBatch_;
  const size_t slabBytes_;
  std::unique_ptr<ReaderThread> thread_;
  // The thread reads the fd, not the loop (ReaderThread::kLightStreak); only while thread_ is set.
  bool threadReads_ = false;
};

}  // namespace tuntap
