//===- WorkspaceCache.h - reuse compiled models' buffers ---------*- C++ -*-===//
//
// The hooks a CPU model library's buffer allocations go through
// (mhmoe_set_allocator, docs/compiled-library-abi.md). Large blocks freed
// by one forward are kept and handed to the next, so repeated calls of the
// same size touch memory that is already mapped instead of page-faulting a
// fresh workspace every time; small blocks go to malloc. One cache serves
// the process; its idle blocks are returned when the last model is freed.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_RUNTIME_WORKSPACECACHE_H
#define MHMOE_LIB_RUNTIME_WORKSPACECACHE_H

#include <cstdint>

namespace mhmoe {

/// alloc(ctx, size, align) and free(ctx, ptr) as the library calls them.
void *workspaceAlloc(void *ctx, int64_t size, int64_t align);
void workspaceFree(void *ctx, void *ptr);

/// Returns every idle cached block to the system.
void workspaceReleaseIdle();

/// Bytes held in idle cached blocks (for tests and stats).
uint64_t workspaceIdleBytes();

/// Blocks at least this large are cached.
constexpr uint64_t kMinCachedBlockBytes = uint64_t(256) << 10;

} // namespace mhmoe

#endif
