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

class TunHandle : public PolledHandle<TunHandle>, private PacketSink {
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

  // inRead_ (and inScope_) for a scope, exceptions included.
  class InRead {
   public:
    InRead(TunHandle* handle, bool inScope) : handle_(handle), was_(handle->inRead_), wasInScope_(handle->inScope_) {
      handle->inRead_ = true;
      handle->inScope_ = inScope;
    }
    ~InRead() { End(); }
    InRead(const InRead&) = delete;
    InRead& operator=(const InRead&) = delete;
    void End() {
      if (handle_ == nullptr) return;
      handle_->inRead_ = was_;
      handle_->inScope_ = wasInScope_;
      handle_ = nullptr;
    }

   private:
    TunHandle* handle_;
    bool was_;
    bool wasInScope_;
  };

  void UpdatePoll();
  // A wake-up's packets from reader_, in one callback scope.
  void ReadBatch(bool fromThread);
  bool Detached(Napi::Env env, const Napi::ObjectReference& typedArray);
  void NewSlab(Napi::Env env);
  void NewDescriptors(Napi::Env env);
  void ReportError(int err, const char* syscall);
  void StartThread(Napi::Env env, int cpu);

  // PacketSink's (see reader_thread.h).
  uint32_t* BeginPart() override;
  Slab* Room(size_t bytes) override;
  bool Share(SharedSlab* slab, size_t offset, size_t span) override;
  void HandOver(uint32_t count, double bytes) override;
  void Failed(int err) override { ReportError(err, "read"); }
  bool Open() override { return io_.fd() >= 0 && JsAllowed(); }
  bool Reading() override { return reading_ && Open(); }
  void Repoll() override { UpdatePoll(); }

  bool reading_ = false;
  bool waitingWritable_ = false;
  bool inRead_ = false;   // ReadBatch (or StopReader) is handing packets to JS
  bool inScope_ = false;  // ... inside a callback scope of AsyncContext()

  uint32_t maxBatch_;       // packets per wake-up at most
  uint32_t readBudget_;     // packets per onRead call at most (1..maxBatch_)
  Slab room_;               // slab_'s bytes
  bool reuseSlab_ = false;  // JS promised not to keep views past the callback
  Napi::ObjectReference slab_;
  napi_value shared_ = nullptr;  // this part's Buffer over the reader thread's slab (Share)

  uint32_t* descriptors_ = nullptr;  // [offset, length] pairs, maxBatch_ of them
  Napi::ObjectReference descriptorsRef_;
  int32_t* writeResults_ = nullptr;  // JS keeps this array private
  uint32_t writeResultsCapacity_ = 0;
  Napi::ObjectReference writeResultsRef_;

  std::unique_ptr<PacketReader> reader_;  // set before the fd is adopted
  PolledFd notify_;                       // the reader thread's notifyFd(), polled
};

}  // namespace tuntap
