// The memory read batches land in: slabs handed to JS as Buffers whose regions become packets.
// Pooled because a slab lives until every view of it is collected, and fresh memory of that size
// comes back from malloc as pages the kernel must fault in again.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tuntap {

// A Buffer of `size` bytes for read parts (`*data` its bytes): pooled for usual sizes; V8's
// own after a slab of large packets (their few views rarely trigger the young collections that
// return pooled slabs) and wherever external buffers are not allowed.
Napi::Object NextSlab(Napi::Env env, size_t size, size_t lastAveragePacket, uint8_t** data);

// Packets this large on average are large (see NextSlab).
constexpr size_t kLargePacket = 8 * 1024;
// A part of a SharedSlab this large goes to JS as a Buffer over it (WrapSlabPart): below, a
// Buffer of its own (creation, finalizer, collection) costs about as much as a copy.
constexpr size_t kWrapBytes = 32 * 1024;

// Whether `count` packets spanning `span` bytes of a SharedSlab are wrapped rather than copied;
// not large packets, for NextSlab's reason.
inline bool WrapsPart(size_t span, uint32_t count) { return span >= kWrapBytes && span < count * kLargePacket; }

// The bytes a packet of `length` takes in a slab: rounded up to 16, so that
// every packet starts aligned.
inline size_t SlabPlace(size_t length) { return (length + 15) & ~static_cast<size_t>(15); }

// Pooled memory the reader thread reads into, shown to JS a published part at a time, so no Buffer
// covers bytes the thread may still write. Refcounted (the thread, each published batch, each part
// Buffer); any thread may drop a reference.
class SharedSlab {
 public:
  // A slab of `size` bytes with one reference, the caller's; nullptr when
  // there is no memory.
  static SharedSlab* New(size_t size);
  uint8_t* data() const { return data_; }
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref();

 private:
  SharedSlab(uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t* const data_;
  const size_t size_;
  std::atomic<uint32_t> refs_{1};
};

// A Buffer over `length` bytes of `slab` from `offset`, holding a reference
// until it is collected; an empty value where external buffers are not
// allowed (the caller copies instead).
Napi::Value WrapSlabPart(Napi::Env env, SharedSlab* slab, size_t offset, size_t length);

}  // namespace tuntap
