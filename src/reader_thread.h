// ReaderThread: the opt-in reader of a TunHandle (TunDeviceOptions.readerThread).
//
// One thread per queue reads packets from the TUN fd, batch after batch (a
// ring of kSlots, each up to maxBatch packets), into pooled slabs
// (SharedSlab), and tells the event loop through an eventfd. The loop thread
// hands a part of a batch to JS either as it is, a Buffer over those packets
// of the slab, or copied into the JS slab as the poll-mode reader would have
// read it (TunHandle::ReadThreadPart says when). Reading thus overlaps JS's
// processing of the batch before: on two cores, the rate is that of the
// slower of the two sides instead of their sum.
//
// What the thread touches: the TUN fd (read and poll only), the slab it reads
// into and the two eventfds. Never N-API, and never memory a JS Buffer
// covers: a slab's memory becomes a Buffer only in parts the thread has
// published and never writes again, and goes back to the pool only once the
// thread, the ring and every such Buffer are done with it. The loop thread
// stops and joins the thread before the TUN fd is closed
// (TunHandle::BeforeRelease), so the thread never reads a closed fd, or a
// reused fd number.
//
// Who reads: the thread only while the queue is busy. It starts parked, and
// the loop thread reads the fd itself as without a thread (one wake-up a
// batch, not two). A wake-up of the loop that reads a full batch (or half a
// slab) and still finds more hands the reading to the thread
// (TunHandle::OnEvents, Engage); after kLightStreak batches in a row that
// emptied the kernel's ring with few packets, the thread hands it back: it
// parks, and marks its last batch, after which the loop thread reads the fd
// again. Only one of them reads at a time, each only after the other
// stopped, so the packets keep their order. At a light load this costs about
// what reading without a thread does: in `npm run bench`'s 'rx paced' (200k
// packets/s), 1.1-1.2x the CPU per packet of C, against 2.1-2.2x when the
// thread read everything (two wake-ups per batch); drained, the same as
// before within the noise (3 and 5 rounds, base-thread-*).
//
// Bounds: the thread reads only while JS reads (SetActive), and only while
// fewer than kInFlight batches wait for the loop: at most that many batches'
// bytes of slabs, beyond what JS keeps. Latency: while the kernel has more, the
// loop is told once kTellAt batches are ready (see Run), so under a heavy
// load a packet may wait for the batch after its own to be read.
//
// Why 12 batches in flight: JS stops now and then (a collection, a slow
// handler) and a thread with nowhere to read into stops with it; a deeper
// ring lets it read on and JS catch up after. With 4, `npm run bench`'s
// 'rx drain' read 0.84 of C at 1400 bytes and 0.94 at 64 through
// `readable` (base-thread-stream); with 12, 0.90 and 0.96 in the same run
// (thread-stream, 3 rounds each; 24 in flight of 32 slots did no better).
//
// Why the thread's own slabs rather than a fixed ring of memory it copies
// out of: `readable` keeps every packet it hands out, so each packet needs
// memory of its own anyway; copied, the loop thread paid for the copy.
// Handed over as read, 'rx drain 1400B' through `readable` cost the event
// loop's thread 0.10-0.11 us a packet against 0.19 (`npm run bench`,
// loopUsPerPkt, 3 and 5 rounds against the ring, base-thread-stream) at the
// same rate: the thread is the slower side there, and it pays for writing
// fresh memory either way. A read error ends the thread after its packets;
// the loop thread gets the error after the last of them.
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
  static constexpr uint32_t kSlots = 16;     // batches in the ring
  static constexpr uint32_t kInFlight = 12;  // batches read ahead of the loop, at most
  static constexpr uint32_t kTellAt = 2;     // batches ready before the loop is told, while more wait
  // The hand-back (see "Who reads" above): after this many batches in a row
  // that found the kernel's ring empty with at most kLightBatch packets.
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
  // Stops and joins the thread; idempotent. The batches it published stay
  // in the ring, for Peek() (TunHandle hands them to JS at close) until
  // Discard() or the destructor drops them.
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
  // The front batch's next packets, at most `limit` of them, all in one
  // slab: true and *run set, or false with errno set (EAGAIN: nothing ready
  // now; else the thread's read error). The run's memory stays valid until
  // Consume().
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
  // A cache line each (and the indexes below one each): what one side
  // writes never shares a line with what the other side reads.
  struct alignas(64) Slot {
    SharedSlab* slab = nullptr;               // a reference, dropped when the loop takes the batch
    std::unique_ptr<uint32_t[]> descriptors;  // [offset in the slab, length] pairs
    uint32_t count = 0;
    int error = 0;
    bool handBack = false;  // the thread's last batch before it parks
  };

  static void* Main(void* self);
  void Run();
  // Waits while `blocked()` holds, until the loop thread changes something
  // (a free slot, a resume, the stop). sleeping_ and the state are both
  // sequentially consistent: either the loop thread sees sleeping_ set and
  // signals, or blocked() sees its change.
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

}  // namespace tuntap
