//===- WorkspaceCacheTest.cpp - reuse of compiled models' buffers ---------===//
#include "WorkspaceCache.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

using namespace mhmoe;

namespace {

TEST(WorkspaceCache, ALargeBlockIsReusedBySameSizedCalls) {
  workspaceReleaseIdle();
  void *a = workspaceAlloc(nullptr, 3 << 20, 64);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  std::memset(a, 1, 3 << 20);
  workspaceFree(nullptr, a);
  EXPECT_GE(workspaceIdleBytes(), uint64_t(3) << 20);
  // The next forward of the same size gets the same, already mapped block;
  // a slightly different size in the same size class too.
  void *b = workspaceAlloc(nullptr, (3 << 20) - 1000, 64);
  EXPECT_EQ(a, b);
  EXPECT_EQ(workspaceIdleBytes(), 0u);
  workspaceFree(nullptr, b);
  workspaceReleaseIdle();
  EXPECT_EQ(workspaceIdleBytes(), 0u);
}

TEST(WorkspaceCache, SmallAndOverAlignedBlocksAreNotCached) {
  workspaceReleaseIdle();
  void *s = workspaceAlloc(nullptr, 100, 16);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(s) % 16, 0u);
  workspaceFree(nullptr, s);
  void *big = workspaceAlloc(nullptr, 1 << 20, 4096);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big) % 4096, 0u);
  workspaceFree(nullptr, big);
  EXPECT_EQ(workspaceIdleBytes(), 0u);
  workspaceFree(nullptr, nullptr); // as free(NULL)
}

TEST(WorkspaceCache, ThreadsAllocateAndFreeConcurrently) {
  workspaceReleaseIdle();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) {
        size_t n = size_t(kMinCachedBlockBytes) * (1 + (i + t) % 3);
        auto *p = static_cast<uint8_t *>(workspaceAlloc(nullptr, int64_t(n), 64));
        ASSERT_NE(p, nullptr);
        p[0] = uint8_t(t);
        p[n - 1] = uint8_t(i);
        workspaceFree(nullptr, p);
      }
    });
  for (auto &th : threads)
    th.join();
  // At most one idle block per thread and size class remains.
  EXPECT_LE(workspaceIdleBytes(), uint64_t(4) * 3 * 4 * kMinCachedBlockBytes);
  workspaceReleaseIdle();
}

} // namespace
