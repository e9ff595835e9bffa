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

#include <cstddef>
#include <cstdint>

namespace tuntap {

// A Buffer of `size` bytes over pooled memory; `*data` receives its bytes.
// The memory returns to the pool when the Buffer is collected. Where
// external buffers are not allowed (a runtime with V8's sandbox), it is an
// ordinary Buffer and nothing is pooled.
Napi::Object NewPooledSlab(Napi::Env env, size_t size, uint8_t** data);

}  // namespace tuntap
