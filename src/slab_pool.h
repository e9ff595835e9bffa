// The memory read batches land in: slabs handed to JS as Buffers whose regions become packets.
// Pooled because a slab lives until every view of it is collected, and fresh memory of that size
// comes back from malloc as pages the kernel must fault in again.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tuntap {

// A Buffer of `size` bytes over pooled memory; `*data` receives its bytes.
// The memory returns to the pool when the Buffer is collected. Where
// external buffers are not allowed (a runtime with V8's sandbox), it is an
// ordinary Buffer and nothing is pooled.
Napi::Object NewPooledSlab(Napi::Env env, size_t size, uint8_t** data);

// A Buffer of `size` bytes of V8's own memory; `*data` receives its bytes.
Napi::Object NewHeapSlab(Napi::Env env, size_t size, uint8_t** data);

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
