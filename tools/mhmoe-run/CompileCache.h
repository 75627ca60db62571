//===- CompileCache.h - mhmoe-run's compiled-model store ---------*- C++ -*-===//
//
// Compiled libraries keyed by everything that determines the generated code
// (canonical config, target, CPU, compiler build). An entry is `<key>.so`
// plus `<key>.json`, which records the key, the size and the xxh3 checksum
// of the library; an entry is trusted only when the library, read through,
// matches them (a truncated or swapped library is never dlopen'd). Compiles
// take a per-entry flock so that concurrent processes compile once; writes
// are temporary + fsync + rename. Interrupted writes are swept after ten
// minutes, and the store is kept under a size limit by evicting the least
// recently used entries. A directory that cannot be written falls back to a
// private temporary one (with a warning) removed at exit.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_TOOLS_MHMOE_RUN_COMPILECACHE_H
#define MHMOE_TOOLS_MHMOE_RUN_COMPILECACHE_H

#include "mhmoe/Compiler/Compiler.h"
#include "mhmoe/Support/ModelConfig.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace mhmoe {

class CompileCache {
public:
  using Logger = llvm::function_ref<void(const llvm::Twine &)>;

  /// The store in $MHMOE_CACHE_DIR, else $XDG_CACHE_HOME/mhmoe, else
  /// ~/.cache/mhmoe; `note` gets verbose progress, `warn` what the user must
  /// know (a fallback to a temporary directory).
  CompileCache(Logger note, Logger warn);
  ~CompileCache();
  CompileCache(const CompileCache &) = delete;
  CompileCache &operator=(const CompileCache &) = delete;

  /// A validated library for `config` and `opts`, compiled if the entry is
  /// missing, invalid, or `rebuild` is set (a library that failed to load).
  llvm::Expected<std::string> library(const ModelConfig &config,
                                      const CompileOptions &opts,
                                      bool rebuild, bool &compiledNow);

  /// Size limit of the store's libraries ($MHMOE_CACHE_MAX_BYTES, default
  /// 2 GiB).
  static uint64_t sizeLimitBytes();

private:
  llvm::Error useDirectory(bool forWriting);
  bool entryIsValid(llvm::StringRef key, llvm::StringRef lib,
                    llvm::StringRef sidecar, std::string &why) const;
  void evictToLimit(llvm::StringRef keep);

  Logger note, warn;
  std::string dir;        // the store in use
  std::string privateDir; // a fallback temporary directory, removed at exit
  bool writable = false;
};

/// The cache key of `config` compiled with `opts` (16 hex digits).
std::string compileCacheKey(const ModelConfig &config,
                            const CompileOptions &opts);

} // namespace mhmoe

#endif
