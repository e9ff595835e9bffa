// TunHandle: one open TUN/TAP queue fd, polled on the environment's own loop (worker-safe). A slab
// region is handed to JS once and never written again, so JS gives users views, not copies; every
// batch checks its arrays for detach, since user code can transfer them.
#pragma once
#include <napi.h>
#include <uv.h>

#include <memory>

#include "polled_handle.h"
#include "reader_thread.h"

namespace tuntap {

class TunHandle : public PolledHandle<TunHandle> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit TunHandle(const Napi::CallbackInfo& info);
  // Here, not only in PolledHandle's: the reader thread must be stopped
  // before the fd closes, while this class's members still exist.
  ~TunHandle() override;

  // PolledHandle's hooks.
  void OnEvents(int status, int events);
  void OnNativeFailure(int err);
  void BeforeRelease();
  void AfterClose();
  void OnNotify(int status, int events);

  // Whether a TunHandle of this process holds fd (in any environment).
  static bool OwnsFd(int fd);

 private:
  enum Callback { kOnRead, kOnWritable, kOnError };

  Napi::Value StartReading(const Napi::CallbackInfo& info);
  Napi::Value StopReading(const Napi::CallbackInfo& info);
  Napi::Value SetSlabReuse(const Napi::CallbackInfo& info);
  Napi::Value SetReadBudget(const Napi::CallbackInfo& info);
  // Non-blocking write(2) per packet, one crossing per batch; on EAGAIN JS asks for onWritable.
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value WriteViews(const Napi::CallbackInfo& info);
  Napi::Value WriteSlab(const Napi::CallbackInfo& info);
  Napi::Value WaitWritable(const Napi::CallbackInfo& info);
  Napi::Value StopReader(const Napi::CallbackInfo& info);

  // inRead_ for a scope, exceptions included.
  class InRead {
   public:
    explicit InRead(TunHandle* handle) : handle_(handle), was_(handle->inRead_) { handle->inRead_ = true; }
    ~InRead() { End(); }
    InRead(const InRead&) = delete;
    InRead& operator=(const InRead&) = delete;
    void End() {
      if (handle_ != nullptr) handle_->inRead_ = was_;
      handle_ = nullptr;
    }

   private:
    TunHandle* handle_;
    bool was_;
  };

  void UpdatePoll();
  // Whether the queue looks busy: it read a full batch, or half a slab's
  // bytes, and stopped without reaching EAGAIN.
  bool ReadBatch(Napi::Env env);
  struct Part {
    uint32_t count = 0;  // packets
    double bytes = 0;
    int stop = 0;  // why it stopped, if not at its limit: 0 (the slab is full), EAGAIN, another errno
  };
  void ReadPart(Napi::Env env, uint32_t limit, bool inScope, Part* part);
  bool Detached(Napi::Env env, const Napi::ObjectReference& typedArray);
  void NewSlab(Napi::Env env);
  void NewDescriptors(Napi::Env env);
  void ReportError(int err, const char* syscall);
  void StartThread(Napi::Env env, int cpu);
  // ReadPart's counterpart while the reader thread reads.
  void ReadThreadPart(Napi::Env env, uint32_t limit, bool inScope, Part* part);
  // The pieces the two share (see tun_handle.cc).
  void BeginPart(Napi::Env env);
  bool SlabRoom(Napi::Env env, size_t bytes, bool partHasPackets);
  void Placed(uint32_t i, size_t length);
  void HandOver(Napi::Env env, Napi::Value slab, uint32_t count, double bytes, bool inScope);
  // A part of the thread's batch this large is handed to JS in the thread's slab (see ReadThreadPart).
  static constexpr size_t kWrapBytes = 32 * 1024;
  // Packets of this size on average are large (see NewSlab).
  static constexpr size_t kLargePacket = 8 * 1024;

  bool reading_ = false;
  bool waitingWritable_ = false;
  bool inRead_ = false;  // ReadBatch (or StopReader) is handing packets to JS

  uint32_t maxPacketSize_;  // room reserved for one read
  uint32_t maxBatch_;       // packets per wake-up at most
  uint32_t readBudget_;     // packets per onRead call at most (1..maxBatch_)
  size_t slabSize_;
  size_t slabUsed_ = 0;
  size_t slabPackets_ = 0;  // packets in the slab
  bool reuseSlab_ = false;  // JS promised not to keep views past the callback
  uint8_t* slabData_ = nullptr;
  Napi::ObjectReference slab_;

  uint32_t* descriptors_ = nullptr;  // [offset, length] pairs, maxBatch_ of them
  Napi::ObjectReference descriptorsRef_;
  int32_t* writeResults_ = nullptr;  // JS keeps this array private
  uint32_t writeResultsCapacity_ = 0;
  Napi::ObjectReference writeResultsRef_;

  std::unique_ptr<ReaderThread> thread_;  // only with readerThread
  // The thread reads the fd, not the loop (ReaderThread::kLightStreak); only ever true while
  // thread_ is set.
  bool threadReads_ = false;
  PolledFd notify_;  // thread_'s notifyFd(), polled
};

}  // namespace tuntap
