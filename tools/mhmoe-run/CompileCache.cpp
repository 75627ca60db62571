//===- CompileCache.cpp - mhmoe-run's compiled-model store ----------------===//
#include "CompileCache.h"

#include "mhmoe/ToolSupport/LLVMError.h"
#include "mhmoe/Support/InputFiles.h"
#include "mhmoe/Support/JSONUtil.h"
#include "mhmoe/ToolSupport/LLVMJSON.h"
#include "mhmoe/ToolSupport/OutputFiles.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Chrono.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/xxhash.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <vector>

using namespace llvm;

namespace mhmoe {

namespace {

/// Interrupted writes older than this are removed when the store is opened.
constexpr int64_t kStaleTemporarySeconds = 600;
/// A compiled library larger than this is not a library mhmoe made.
constexpr uint64_t kMaxLibraryBytes = uint64_t(1) << 30;

std::string configuredDirectory() {
  if (std::optional<std::string> d = sys::Process::GetEnv("MHMOE_CACHE_DIR"))
    if (!d->empty())
      return *d;
  SmallString<256> dir;
  if (std::optional<std::string> x = sys::Process::GetEnv("XDG_CACHE_HOME"))
    if (!x->empty()) {
      dir = *x;
      sys::path::append(dir, "mhmoe");
      return std::string(dir);
    }
  if (!sys::path::home_directory(dir))
    return "";
  sys::path::append(dir, ".cache", "mhmoe");
  return std::string(dir);
}

Expected<uint64_t> hashFile(StringRef path, uint64_t &size) {
  Expected<std::unique_ptr<RegularFile>> f =
      toExpected(RegularFile::open(path.str(), "compiled library"));
  if (!f)
    return f.takeError();
  size = (*f)->size();
  if (size > kMaxLibraryBytes)
    return makeError(path + ": compiled library is larger than 1 GiB");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (Error e = toLLVMError((*f)->readAt(0, bytes.data(), size)))
    return std::move(e);
  return xxh3_64bits(bytes);
}

/// An exclusive flock on a lock file, released on destruction.
class EntryLock {
public:
  explicit EntryLock(StringRef path) {
    fd = ::open(path.str().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
      return;
    while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~EntryLock() {
    if (fd >= 0)
      ::close(fd);
  }
  bool held() const { return fd >= 0; }

private:
  int fd = -1;
};

bool isKeyName(StringRef stem) {
  return stem.size() == 16 && all_of(stem, isHexDigit);
}

} // namespace

std::string compileCacheKey(const ModelConfig &config,
                            const CompileOptions &opts) {
  std::string key = canonicalConfigJSON(config);
  key += '\0';
  key += targetName(opts.target);
  key += '\0';
  key += opts.target == Target::CUDA ? opts.gpuChip : "";
  key += '\0';
  key += opts.target != Target::CPU ? opts.gpuMath : "";
  key += '\0';
  key += opts.target == Target::CPU ? opts.cpu : "";
  if (opts.target == Target::CPU && opts.cpu == "host") {
    key += sys::getHostCPUName();
    std::vector<std::string> enabled;
    for (const auto &f : sys::getHostCPUFeatures())
      if (f.second)
        enabled.push_back(f.first().str());
    std::sort(enabled.begin(), enabled.end());
    for (const std::string &f : enabled)
      key += "," + f;
  }
  key += '\0';
  key += compilerVersion();
  key += '\0';
  key += opts.parallel ? "parallel" : "serial";
  key += '\0';
  key += weightPrecisionName(opts.weights);
  key += '\0';
  key += mlir::mhmoe::stringifyMatmulPrecision(opts.matmulPrecision);
  key += '\0';
  key += openMPRuntimeName(opts.openMPRuntime);
  key += '\0';
  key += std::to_string(opts.expertShard.rank) + "/" +
         std::to_string(opts.expertShard.ranks);
  key += '\0';
  key += sys::getProcessTriple();
  key += '\0';
  key += sys::getHostCPUName();
  return utohexstr(xxh3_64bits(key), /*LowerCase=*/true, /*Width=*/16);
}

CompileCache::CompileCache(Logger note, Logger warn) : note(note), warn(warn) {}

CompileCache::~CompileCache() {
  if (!privateDir.empty())
    (void)sys::fs::remove_directories(privateDir);
}

uint64_t CompileCache::sizeLimitBytes() {
  if (const char *v = std::getenv("MHMOE_CACHE_MAX_BYTES")) {
    uint64_t bytes = 0;
    if (!StringRef(v).getAsInteger(10, bytes) && bytes > 0)
      return bytes;
  }
  return uint64_t(2) << 30;
}

Error CompileCache::useDirectory(bool forWriting) {
  if (!privateDir.empty())
    return Error::success();
  std::string why;
  if (dir.empty()) {
    dir = configuredDirectory();
    if (dir.empty())
      why = "no cache directory is set and there is no home directory";
    else
      (void)sys::fs::create_directories(dir);
  }
  if (why.empty() && !sys::fs::is_directory(dir))
    why = sys::fs::exists(dir) ? "it exists and is not a directory"
                               : "it cannot be created";
  if (why.empty()) {
    writable = ::access(dir.c_str(), W_OK | X_OK) == 0;
    if (writable)
      sweepStaleTemporaries(dir, kStaleTemporarySeconds);
    if (!forWriting || writable)
      return Error::success();
    why = "it is not writable";
  }
  SmallString<256> model;
  sys::path::system_temp_directory(/*ErasedOnReboot=*/true, model);
  sys::path::append(model, "mhmoe-cache-XXXXXX");
  std::string tmpl(model.str());
  if (!::mkdtemp(tmpl.data()))
    return makeError("the compile cache '" + dir + "' is unusable (" + why +
                     ") and no temporary directory could be made: " +
                     std::strerror(errno));
  warn("the compile cache '" + dir + "' is unusable (" + why +
       "); compiling into the temporary directory " + tmpl +
       ", removed at exit (set MHMOE_CACHE_DIR)");
  privateDir = dir = tmpl;
  writable = true;
  return Error::success();
}

bool CompileCache::entryIsValid(StringRef key, StringRef lib,
                                StringRef sidecar, std::string &why) const {
  if (!sys::fs::exists(lib)) {
    why = "no entry";
    return false;
  }
  Expected<std::string> text =
      toExpected(readRegularFile(sidecar.str(), 1 << 20, "cache record"));
  if (!text) {
    why = toString(text.takeError());
    return false;
  }
  std::optional<json::Value> v;
  if (checkJSONNesting(*text, kMaxJSONNesting, sidecar.str())) {
    // too deep to parse safely: treated as damaged below
  } else if (Expected<json::Value> parsed = json::parse(*text)) {
    v = std::move(*parsed);
  } else {
    consumeError(parsed.takeError());
  }
  const json::Object *o = v ? v->getAsObject() : nullptr;
  std::optional<StringRef> recKey = o ? o->getString("key") : std::nullopt;
  std::optional<StringRef> recHash = o ? o->getString("xxh3") : std::nullopt;
  std::optional<int64_t> recSize;
  if (o)
    if (const json::Value *s = o->get("size"))
      recSize = getInt64(*s);
  if (!recKey || !recHash || !recSize || *recKey != key) {
    why = "its record is damaged or belongs to another entry";
    return false;
  }
  uint64_t size = 0;
  Expected<uint64_t> hash = hashFile(lib, size);
  if (!hash) {
    why = toString(hash.takeError());
    return false;
  }
  if (int64_t(size) != *recSize ||
      utohexstr(*hash, /*LowerCase=*/true, 16) != *recHash) {
    why = "the library does not match its record (size " + std::to_string(size) +
          ", recorded " + std::to_string(*recSize) + ")";
    return false;
  }
  return true;
}

Expected<std::string> CompileCache::library(const ModelConfig &config,
                                            const CompileOptions &optsIn,
                                            bool rebuild, bool &compiledNow) {
  compiledNow = false;
  CompileOptions opts = optsIn;
  opts.emit = EmitKind::Lib;
  const std::string key = compileCacheKey(config, opts);
  auto paths = [&](SmallString<256> &lib, SmallString<256> &rec,
                   SmallString<256> &lock) {
    lib = rec = lock = dir;
    sys::path::append(lib, key + ".so");
    sys::path::append(rec, key + ".json");
    sys::path::append(lock, "." + key + ".lock");
  };
  if (Error e = useDirectory(/*forWriting=*/false))
    return std::move(e);
  SmallString<256> lib, rec, lockPath;
  paths(lib, rec, lockPath);
  std::string why;
  if (!rebuild && entryIsValid(key, lib, rec, why)) {
    note("cache hit: " + lib);
    (void)::utimes(lib.c_str(), nullptr); // least recently used goes first
    return std::string(lib);
  }
  if (!rebuild && why != "no entry")
    note("cache entry " + lib + " is invalid (" + why + "); recompiling");
  if (Error e = useDirectory(/*forWriting=*/true))
    return std::move(e);
  paths(lib, rec, lockPath);

  // One compile per entry: wait for a concurrent compile, then look again.
  EntryLock lock(lockPath);
  if (!rebuild && lock.held() && entryIsValid(key, lib, rec, why)) {
    note("cache hit: " + lib);
    return std::string(lib);
  }
  note("compiling model into " + lib);
  auto start = std::chrono::steady_clock::now();
  if (Error err = compileModel(config, opts, lib))
    return makeError("compiling the model failed: " + toString(std::move(err)));
  uint64_t size = 0;
  Expected<uint64_t> hash = hashFile(lib, size);
  if (!hash)
    return hash.takeError();
  json::Object record{{"key", key},
                      {"size", int64_t(size)},
                      {"xxh3", utohexstr(*hash, /*LowerCase=*/true, 16)},
                      {"compiler", compilerVersion()}};
  if (Error e = writeFileAtomically(rec, [&](raw_ostream &os) {
        os << json::Value(std::move(record)) << "\n";
        return Error::success();
      }))
    return std::move(e);
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  note("compiled in " + formatv("{0:F2}", secs).str() + " s");
  evictToLimit(key);
  compiledNow = true;
  return std::string(lib);
}

void CompileCache::evictToLimit(StringRef keep) {
  struct Entry {
    std::string stem;
    uint64_t bytes;
    time_t mtime;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  std::error_code ec;
  for (sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec)) {
    StringRef name = sys::path::filename(it->path());
    if (!name.ends_with(".so") || !isKeyName(name.drop_back(3)))
      continue;
    struct stat st;
    if (::stat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    entries.push_back({name.drop_back(3).str(), uint64_t(st.st_size),
                       st.st_mtime});
    total += uint64_t(st.st_size);
  }
  const uint64_t limit = sizeLimitBytes();
  std::sort(entries.begin(), entries.end(),
            [](const Entry &a, const Entry &b) { return a.mtime < b.mtime; });
  for (const Entry &e : entries) {
    if (total <= limit)
      break;
    if (e.stem == keep)
      continue;
    for (const char *suffix : {".so", ".json"}) {
      SmallString<256> p(dir);
      sys::path::append(p, e.stem + suffix);
      sys::fs::remove(p);
    }
    SmallString<256> lockFile(dir);
    sys::path::append(lockFile, "." + e.stem + ".lock");
    sys::fs::remove(lockFile);
    total -= e.bytes;
    note("evicted cache entry " + e.stem + " (the cache is limited to " +
         Twine(limit) + " bytes, MHMOE_CACHE_MAX_BYTES)");
  }
}

} // namespace mhmoe
