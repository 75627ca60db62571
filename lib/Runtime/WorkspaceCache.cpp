//===- WorkspaceCache.cpp - reuse compiled models' buffers ----------------===//
#include "WorkspaceCache.h"

#include <cstdlib>
#include <map>
#include <mutex>

namespace mhmoe {

namespace {

/// Every block carries this header just below the pointer handed out, so
/// free knows how it was allocated.
struct BlockHeader {
  uint64_t magic;
  uint64_t capacity; // 0 for a block that is not cached
  void *base;
  uint64_t pad;
};
static_assert(sizeof(BlockHeader) == 32, "header layout");
constexpr uint64_t kMagic = 0x6d686d6f65777331ULL; // "mhmoews1"
constexpr uint64_t kAlign = 64;

/// Sizes round up to one of four steps per power of two (and to 4 KiB), so
/// tokens counts close to each other share blocks without wasting more than
/// a quarter.
uint64_t capacityFor(uint64_t size) {
  uint64_t p = uint64_t(1) << (63 - __builtin_clzll(size));
  uint64_t step = p / 4;
  uint64_t c = (size + step - 1) / step * step;
  return (c + 4095) / 4096 * 4096;
}

struct Cache {
  std::mutex mutex;
  std::multimap<uint64_t, void *> idle; // capacity -> block base
  uint64_t idleBytes = 0;
};

Cache &cache() {
  static Cache *c = new Cache; // never destroyed: models may outlive statics
  return *c;
}

void *carve(void *base, uint64_t offset, uint64_t capacity) {
  char *user = static_cast<char *>(base) + offset;
  auto *h = reinterpret_cast<BlockHeader *>(user - sizeof(BlockHeader));
  h->magic = kMagic;
  h->capacity = capacity;
  h->base = base;
  return user;
}

} // namespace

void *workspaceAlloc(void *, int64_t size, int64_t align) {
  uint64_t bytes = size > 0 ? uint64_t(size) : 1;
  uint64_t a = align > int64_t(kAlign) ? uint64_t(align) : kAlign;
  if ((a & (a - 1)) != 0)
    return nullptr;
  // The header fits in the alignment padding before the user pointer.
  if (bytes < kMinCachedBlockBytes || a != kAlign) {
    void *base = nullptr;
    if (posix_memalign(&base, a, a + bytes) != 0)
      return nullptr;
    return carve(base, a, 0);
  }
  uint64_t capacity = capacityFor(bytes);
  Cache &c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.idle.find(capacity);
    if (it != c.idle.end()) {
      void *base = it->second;
      c.idle.erase(it);
      c.idleBytes -= capacity;
      return carve(base, kAlign, capacity);
    }
  }
  void *base = nullptr;
  if (posix_memalign(&base, kAlign, kAlign + capacity) != 0)
    return nullptr;
  return carve(base, kAlign, capacity);
}

void workspaceFree(void *, void *ptr) {
  if (!ptr)
    return;
  auto *h = reinterpret_cast<BlockHeader *>(static_cast<char *>(ptr) -
                                            sizeof(BlockHeader));
  if (h->magic != kMagic)
    std::abort(); // not a block of this cache: heap corruption
  void *base = h->base;
  if (h->capacity == 0) {
    std::free(base);
    return;
  }
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.idle.emplace(h->capacity, base);
  c.idleBytes += h->capacity;
}

void workspaceReleaseIdle() {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto &kv : c.idle)
    std::free(kv.second);
  c.idle.clear();
  c.idleBytes = 0;
}

uint64_t workspaceIdleBytes() {
  Cache &c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.idleBytes;
}

} // namespace mhmoe
