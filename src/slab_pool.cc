#include "slab_pool.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace tuntap {

namespace {

// Free slabs kept for reuse, at most this many bytes; beyond it they go back to malloc. Sized to
// hold what a fast reader fills between two young-generation collections.
constexpr size_t kMaxFreeBytes = 32u << 20;

struct Pool {
  std::mutex mutex;
  std::vector<std::pair<uint8_t*, size_t>> free;  // most recently returned last
  size_t freeBytes = 0;
};

// One pool for the process, never destroyed: every environment (the main
// thread and each worker) shares it, and finalizers can run on whichever
// thread owns a collected Buffer, up to the very end of the process.
Pool& ThePool() {
  static Pool* pool = new Pool();
  return *pool;
}

uint8_t* Take(size_t size, std::nothrow_t) {
  Pool& pool = ThePool();
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    for (size_t i = pool.free.size(); i-- > 0;) {
      if (pool.free[i].second != size) continue;
      uint8_t* data = pool.free[i].first;
      pool.free[i] = pool.free.back();
      pool.free.pop_back();
      pool.freeBytes -= size;
      return data;
    }
  }
  return static_cast<uint8_t*>(std::malloc(size));
}

uint8_t* Take(size_t size) {
  uint8_t* data = Take(size, std::nothrow);
  if (data == nullptr) throw std::bad_alloc();
  return data;
}

void Give(uint8_t* data, size_t size) {
  Pool& pool = ThePool();
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    if (pool.freeBytes + size <= kMaxFreeBytes) {
      pool.free.emplace_back(data, size);
      pool.freeBytes += size;
      return;
    }
  }
  std::free(data);
}

void FinalizeSlab(napi_env env, void* data, void* hint) {
  Give(static_cast<uint8_t*>(data), reinterpret_cast<size_t>(hint));
}

// Learnt once, from whichever environment asks first.
std::atomic<bool> externalBuffersAllowed{true};

void FinalizePart(napi_env env, void* data, void* hint) { static_cast<SharedSlab*>(hint)->Unref(); }

// An external Buffer over `size` bytes at `data`, or nullptr where the
// runtime refuses external buffers (learnt for good). `undo` runs on any
// failure, before the throw of one that is not that refusal.
template <typename Undo>
napi_value NewExternal(Napi::Env env, uint8_t* data, size_t size, napi_finalize finalize, void* hint, Undo undo) {
  napi_value buffer;
  napi_status status = napi_create_external_buffer(env, size, data, finalize, hint, &buffer);
  if (status == napi_ok) return buffer;
  undo();
  if (status != napi_no_external_buffers_allowed) NAPI_THROW_IF_FAILED(env, status, nullptr);
  externalBuffersAllowed = false;
  return nullptr;
}

}  // namespace

SharedSlab* SharedSlab::New(size_t size) {
  uint8_t* data = Take(size, std::nothrow);
  if (data == nullptr) return nullptr;
  auto* slab = new (std::nothrow) SharedSlab(data, size);
  if (slab == nullptr) Give(data, size);
  return slab;
}

void SharedSlab::Unref() {
  // The last holder must see every other holder's accesses to the memory
  // before it goes back to the pool (the usual reference-count ordering).
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  Give(data_, size_);
  delete this;
}

Napi::Value WrapSlabPart(Napi::Env env, SharedSlab* slab, size_t offset, size_t length) {
  if (!externalBuffersAllowed) return Napi::Value();
  slab->Ref();
  napi_value buffer = NewExternal(env, slab->data() + offset, length, FinalizePart, slab, [slab] { slab->Unref(); });
  return buffer == nullptr ? Napi::Value() : Napi::Value(env, buffer);
}

namespace {

Napi::Object NewHeapSlab(Napi::Env env, size_t size, uint8_t** data) {
  Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(env, size);
  *data = buffer.Data();
  return buffer;
}

}  // namespace

Napi::Object NextSlab(Napi::Env env, size_t size, size_t lastAveragePacket, uint8_t** data) {
  if (externalBuffersAllowed && lastAveragePacket < kLargePacket) {
    uint8_t* memory = Take(size);
    // No napi_adjust_external_memory: V8 already counts an external buffer's bytes, and telling
    // it again made it run major collections for memory a scavenge frees.
    napi_value buffer = NewExternal(
        env, memory, size, FinalizeSlab, reinterpret_cast<void*>(size), [memory, size] { Give(memory, size); });
    if (buffer != nullptr) {
      *data = memory;
      return Napi::Object(env, buffer);
    }
  }
  return NewHeapSlab(env, size, data);
}

}  // namespace tuntap
