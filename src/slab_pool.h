// The memory read batches land in: slabs of a few hundred KiB handed to JS as
// Buffers, whose regions become the packets' views.
//
// Why a pool: a slab lives until the garbage collector has collected every
// view of it, and a fresh allocation of that size often comes back from
// malloc as pages the kernel must fault in again: a readable stream of
// 1400-byte packets took about 5.5 page faults per 1,000 packets (the
// `npm run bench` case 'rx 1400B', node-stream). Slabs whose views have all
// been collected come back here (the Buffer's finalizer) and are handed out
// again, already mapped: 0.7-0.9 faults per 1,000 packets in the same case,
// and about 2.5% more packets a second through `readable`.
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

// Pooled memory the reader thread reads batches into, which JS then sees
// without a copy, each part of it as a Buffer of its own (WrapSlabPart): no
// Buffer covers memory the thread may still write, so user code that
// detaches or transfers one takes only packets it was given. The memory goes
// back to the pool when the last reference is dropped: the thread's (until
// it moves on to another slab), each published batch's (until the loop has
// taken it) and each part Buffer's (until it is collected). Any thread may
// drop one.
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
