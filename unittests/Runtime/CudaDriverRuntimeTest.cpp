//===- CudaDriverRuntimeTest.cpp - libMHMoECudaRuntime tests --------------===//
//
// This file builds two things:
//  - with MHMOE_FAKE_CUDA_DRIVER defined, a fake libcuda (host memory, no
//    kernels run) that the runtime loads through MHMOE_CUDA_DRIVER_LIBRARY, so
//    that the success paths are tested on machines without a GPU; with
//    MHMOE_FAKE_CUDA_OLD also defined, a fake of an old driver that lacks the
//    _v2 names, the stream-ordered allocator, cuLaunchKernelEx and TMA;
//  - otherwise, the gtest executable MHMoECudaRuntimeTests.
// Each test that changes the runtime's environment loads a private copy of
// libMHMoECudaRuntime.so (a fresh, uninitialised instance). Tests against the
// real driver run only where mhmoe_cuda_available() is 1.
//
//===----------------------------------------------------------------------===//
#include <cstddef>
#include <cstdint>

// Calls seen by the fake driver (shared layout: the tests read it).
struct FakeCudaStats {
  int ctxSetCurrent;
  int memAlloc, memFree, memAllocAsync, memFreeAsync, memAllocManaged;
  void *lastAllocStream, *lastFreeStream;
  uint64_t poolReleaseThreshold;
  unsigned lastStreamFlags, lastEventFlags;
  int launches;
  unsigned lastGrid[3], lastBlock[3], lastSmem;
  void **lastParams;
  int maxDynamicSharedAttr;
  int launchesEx;
  unsigned lastCluster[3], lastNumAttrs;
  int lastClusterPolicy;
  int jitOptLevel, moduleUnloads;
  int tensorMaps, tmaDataType;
  unsigned tmaRank;
  void *tmaAddress;
  uint64_t tmaDim[5], tmaStrides[4];
  uint32_t tmaBox[5];
  void *hostRegistered, *hostUnregistered;
  size_t hostRegisteredBytes;
};

#ifdef MHMOE_FAKE_CUDA_DRIVER
//===----------------------------------------------------------------------===//
// The fake driver. MHMOE_FAKE_CUDA_MODE selects a failure: nodevice (cuInit
// fails), zero (no devices), two (two devices), ctxfail (no primary context),
// nopools (no memory pool support).
//===----------------------------------------------------------------------===//
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace {
std::mutex fakeMutex;
FakeCudaStats stats;
int contexts[2];

bool modeIs(const char *mode) {
  const char *value = getenv("MHMOE_FAKE_CUDA_MODE");
  return value && strcmp(value, mode) == 0;
}
int deviceCount() { return modeIs("zero") ? 0 : modeIs("two") ? 2 : 1; }

struct FakeFunction {
  std::string name;
};
struct FakeModule {
  std::vector<std::unique_ptr<FakeFunction>> functions;
};
struct FakeEvent {
  unsigned flags;
  bool recorded;
  std::chrono::steady_clock::time_point time;
};
struct FakeLaunchAttribute {
  int id;
  char pad[4];
  union {
    char bytes[64];
    void *pointer;
    struct {
      unsigned x, y, z;
    } clusterDim;
    int policy;
  } value;
};
struct FakeLaunchConfig {
  unsigned gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  void *hStream;
  FakeLaunchAttribute *attrs;
  unsigned numAttrs;
};
using Ptr = unsigned long long;
void *host(Ptr p) { return reinterpret_cast<void *>(p); }
} // namespace

#define LOCK std::lock_guard<std::mutex> lock(fakeMutex)
#define FAKE_API extern "C" __attribute__((visibility("default")))
#ifdef MHMOE_FAKE_CUDA_OLD
#define V2(name) name
#else
#define V2(name) name##_v2
#endif

FAKE_API FakeCudaStats *fakeCudaStats() { return &stats; }
FAKE_API void fakeCudaReset() {
  LOCK;
  stats = FakeCudaStats();
}

namespace {
struct FakeError {
  int code;
  const char *name, *text;
};
const FakeError kErrors[] = {
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"}};
const FakeError *findError(int code) {
  for (const FakeError &error : kErrors)
    if (error.code == code)
      return &error;
  return nullptr;
}
} // namespace

FAKE_API int cuGetErrorName(int code, const char **out) {
  const FakeError *error = findError(code);
  *out = error ? error->name : nullptr;
  return error ? 0 : 1;
}
FAKE_API int cuGetErrorString(int code, const char **out) {
  const FakeError *error = findError(code);
  *out = error ? error->text : nullptr;
  return error ? 0 : 1;
}

FAKE_API int cuInit(unsigned flags) {
  return modeIs("nodevice") ? 100 : flags == 0 ? 0 : 1;
}
FAKE_API int cuDeviceGetCount(int *count) {
  *count = deviceCount();
  return 0;
}
FAKE_API int cuDeviceGet(int *device, int ordinal) {
  if (ordinal < 0 || ordinal >= deviceCount())
    return 101;
  *device = ordinal;
  return 0;
}
FAKE_API int cuDeviceGetName(char *name, int len, int device) {
  snprintf(name, len, "Fake CUDA Device %d", device);
  return 0;
}
FAKE_API int V2(cuDeviceTotalMem)(size_t *bytes, int) {
  *bytes = size_t(80) << 30;
  return 0;
}
FAKE_API int cuDeviceGetAttribute(int *value, int attribute, int) {
  *value = attribute == 75    ? 9
           : attribute == 76  ? 0
           : attribute == 115 ? (modeIs("nopools") ? 0 : 1)
                              : 0;
  return 0;
}
FAKE_API int cuDevicePrimaryCtxRetain(void **context, int device) {
  if (modeIs("ctxfail"))
    return 2;
  *context = &contexts[device];
  return 0;
}
FAKE_API int cuCtxSetCurrent(void *context) {
  LOCK;
  ++stats.ctxSetCurrent;
  return context ? 0 : 400;
}
FAKE_API int cuCtxSynchronize() { return 0; }

FAKE_API int V2(cuMemAlloc)(Ptr *ptr, size_t bytes) {
  LOCK;
  ++stats.memAlloc;
  *ptr = reinterpret_cast<Ptr>(bytes ? malloc(bytes) : nullptr);
  return bytes ? 0 : 1;
}
FAKE_API int V2(cuMemFree)(Ptr ptr) {
  LOCK;
  ++stats.memFree;
  free(host(ptr));
  return 0;
}
FAKE_API int cuMemAllocManaged(Ptr *ptr, size_t bytes, unsigned flags) {
  LOCK;
  ++stats.memAllocManaged;
  *ptr = reinterpret_cast<Ptr>(malloc(bytes));
  return flags == 1 ? 0 : 1;
}
FAKE_API int V2(cuMemcpyHtoD)(Ptr dst, const void *src, size_t bytes) {
  memcpy(host(dst), src, bytes);
  return 0;
}
FAKE_API int V2(cuMemcpyDtoH)(void *dst, Ptr src, size_t bytes) {
  memcpy(dst, host(src), bytes);
  return 0;
}
FAKE_API int cuMemcpyAsync(Ptr dst, Ptr src, size_t bytes, void *) {
  memcpy(host(dst), host(src), bytes);
  return 0;
}
FAKE_API int cuMemsetD32Async(Ptr dst, unsigned value, size_t n, void *) {
  for (size_t i = 0; i < n; ++i)
    static_cast<unsigned *>(host(dst))[i] = value;
  return 0;
}
FAKE_API int cuMemsetD16Async(Ptr dst, unsigned short value, size_t n, void *) {
  for (size_t i = 0; i < n; ++i)
    static_cast<unsigned short *>(host(dst))[i] = value;
  return 0;
}
FAKE_API int V2(cuMemHostRegister)(void *ptr, size_t bytes, unsigned) {
  LOCK;
  stats.hostRegistered = ptr;
  stats.hostRegisteredBytes = bytes;
  return 0;
}
FAKE_API int cuMemHostUnregister(void *ptr) {
  LOCK;
  stats.hostUnregistered = ptr;
  return 0;
}

FAKE_API int cuStreamCreate(void **stream, unsigned flags) {
  LOCK;
  stats.lastStreamFlags = flags;
  *stream = new char;
  return 0;
}
FAKE_API int V2(cuStreamDestroy)(void *stream) {
  delete static_cast<char *>(stream);
  return 0;
}
FAKE_API int cuStreamSynchronize(void *) { return 0; }
FAKE_API int cuStreamWaitEvent(void *, void *event, unsigned) {
  return event ? 0 : 400;
}
FAKE_API int cuEventCreate(void **event, unsigned flags) {
  LOCK;
  stats.lastEventFlags = flags;
  *event = new FakeEvent{flags, false, {}};
  return 0;
}
FAKE_API int V2(cuEventDestroy)(void *event) {
  delete static_cast<FakeEvent *>(event);
  return 0;
}
FAKE_API int cuEventRecord(void *event, void *) {
  auto *e = static_cast<FakeEvent *>(event);
  e->recorded = true;
  e->time = std::chrono::steady_clock::now();
  return 0;
}
FAKE_API int cuEventSynchronize(void *event) { return event ? 0 : 400; }
FAKE_API int cuEventElapsedTime(float *ms, void *start, void *stop) {
  auto *a = static_cast<FakeEvent *>(start);
  auto *b = static_cast<FakeEvent *>(stop);
  if ((a->flags | b->flags) & 2)
    return 400;
  if (!a->recorded || !b->recorded)
    return 1;
  *ms = std::chrono::duration<float, std::milli>(b->time - a->time).count();
  return 0;
}

FAKE_API int cuModuleLoadData(void **module, const void *image) {
  if (strncmp(static_cast<const char *>(image), "FAKECUBIN", 9) != 0)
    return 200;
  *module = new FakeModule();
  return 0;
}
FAKE_API int cuModuleLoadDataEx(void **module, const void *image,
                                unsigned count, int *options, void **values) {
  char *log = nullptr;
  size_t logSize = 0;
  for (unsigned i = 0; i < count; ++i) {
    if (options[i] == 5)
      log = static_cast<char *>(values[i]);
    if (options[i] == 6)
      logSize = reinterpret_cast<size_t>(values[i]);
    if (options[i] == 7) {
      LOCK;
      stats.jitOptLevel =
          static_cast<int>(reinterpret_cast<intptr_t>(values[i]));
    }
  }
  if (strncmp(static_cast<const char *>(image), "//", 2) != 0) {
    if (log && logSize)
      snprintf(log, logSize, "ptxas fatal: fake syntax error");
    return 218;
  }
  *module = new FakeModule();
  return 0;
}
FAKE_API int cuModuleUnload(void *module) {
  LOCK;
  ++stats.moduleUnloads;
  delete static_cast<FakeModule *>(module);
  return 0;
}
FAKE_API int cuModuleGetFunction(void **function, void *module,
                                 const char *name) {
  if (strcmp(name, "missing") == 0)
    return 500;
  auto *owner = static_cast<FakeModule *>(module);
  LOCK;
  owner->functions.push_back(
      std::make_unique<FakeFunction>(FakeFunction{name}));
  *function = owner->functions.back().get();
  return 0;
}
FAKE_API int cuFuncSetAttribute(void *, int attribute, int value) {
  LOCK;
  if (attribute == 8)
    stats.maxDynamicSharedAttr = value;
  return 0;
}
FAKE_API int cuLaunchKernel(void *function, unsigned gx, unsigned gy,
                            unsigned gz, unsigned bx, unsigned by, unsigned bz,
                            unsigned smem, void *, void **params, void **) {
  if (!function)
    return 400;
  if (static_cast<FakeFunction *>(function)->name == "faulty")
    return 719;
  LOCK;
  ++stats.launches;
  unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
  memcpy(stats.lastGrid, grid, sizeof(grid));
  memcpy(stats.lastBlock, block, sizeof(block));
  stats.lastSmem = smem;
  stats.lastParams = params;
  return 0;
}

#ifndef MHMOE_FAKE_CUDA_OLD
FAKE_API int cuFuncGetName(const char **name, void *function) {
  *name = static_cast<FakeFunction *>(function)->name.c_str();
  return 0;
}
FAKE_API int cuMemAllocAsync(Ptr *ptr, size_t bytes, void *stream) {
  LOCK;
  ++stats.memAllocAsync;
  stats.lastAllocStream = stream;
  *ptr = reinterpret_cast<Ptr>(malloc(bytes));
  return 0;
}
FAKE_API int cuMemFreeAsync(Ptr ptr, void *stream) {
  LOCK;
  ++stats.memFreeAsync;
  stats.lastFreeStream = stream;
  free(host(ptr));
  return 0;
}
FAKE_API int cuDeviceGetDefaultMemPool(void **pool, int device) {
  *pool = &contexts[device];
  return 0;
}
FAKE_API int cuMemPoolSetAttribute(void *, int attribute, void *value) {
  LOCK;
  if (attribute == 4)
    stats.poolReleaseThreshold = *static_cast<uint64_t *>(value);
  return 0;
}
FAKE_API int cuLaunchKernelEx(const FakeLaunchConfig *config, void *function,
                              void **params, void **) {
  if (!function)
    return 400;
  LOCK;
  ++stats.launchesEx;
  stats.lastGrid[0] = config->gridDimX;
  stats.lastBlock[0] = config->blockDimX;
  stats.lastSmem = config->sharedMemBytes;
  stats.lastParams = params;
  stats.lastNumAttrs = config->numAttrs;
  for (unsigned i = 0; i < config->numAttrs; ++i) {
    const FakeLaunchAttribute &attr = config->attrs[i];
    if (attr.id == 4) {
      stats.lastCluster[0] = attr.value.clusterDim.x;
      stats.lastCluster[1] = attr.value.clusterDim.y;
      stats.lastCluster[2] = attr.value.clusterDim.z;
    } else if (attr.id == 5) {
      stats.lastClusterPolicy = attr.value.policy;
    }
  }
  return 0;
}
FAKE_API int cuTensorMapEncodeTiled(uint64_t *map, int dataType, uint32_t rank,
                                    void *address, const uint64_t *dims,
                                    const uint64_t *strides,
                                    const uint32_t *box,
                                    const uint32_t *elementStrides, int, int,
                                    int, int) {
  if (rank < 1 || rank > 5 || !address)
    return 1;
  LOCK;
  ++stats.tensorMaps;
  stats.tmaDataType = dataType;
  stats.tmaRank = rank;
  stats.tmaAddress = address;
  for (uint32_t i = 0; i < rank; ++i) {
    stats.tmaDim[i] = dims[i];
    stats.tmaBox[i] = box[i];
    if (i + 1 < rank)
      stats.tmaStrides[i] = strides[i];
    if (elementStrides[i] != 1)
      return 1;
  }
  // Contents that differ whenever the arguments do.
  memset(map, 0, 128);
  for (uint32_t i = 0; i < rank; ++i) {
    map[i] = dims[i];
    map[5 + i] = box[i];
    if (i + 1 < rank)
      map[10 + i] = strides[i];
  }
  map[14] = reinterpret_cast<uint64_t>(address);
  map[15] = static_cast<uint64_t>(dataType);
  return 0;
}
#endif // MHMOE_FAKE_CUDA_OLD

#else // !MHMOE_FAKE_CUDA_DRIVER
//===----------------------------------------------------------------------===//
// The tests.
//===----------------------------------------------------------------------===//
#include "mhmoe/Runtime/mhmoe_cuda.h"

#include <gtest/gtest.h>

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

// The entry points that compiled code calls (not in the public header).
extern "C" {
void *mgpuModuleLoad(void *data, size_t gpuBlobSize);
void *mgpuModuleLoadJIT(void *data, int optLevel, size_t assemblySize);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t paramsCount);
void mgpuLaunchClusterKernel(void *function, intptr_t clusterX,
                             intptr_t clusterY, intptr_t clusterZ,
                             intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                             intptr_t blockX, intptr_t blockY, intptr_t blockZ,
                             int32_t smem, void *stream, void **params,
                             void **extra, size_t paramsCount);
void *mgpuStreamCreate(void);
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamWaitEvent(void *stream, void *event);
void *mgpuEventCreate(void);
void mgpuEventDestroy(void *event);
void mgpuEventSynchronize(void *event);
void mgpuEventRecord(void *event, void *stream);
void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared);
void mgpuMemFree(void *ptr, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream);
void mgpuMemset32(void *dst, unsigned int value, size_t count, void *stream);
void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream);
void mgpuSetDefaultDevice(int32_t device);
void mgpuMemHostRegister(void *ptr, uint64_t sizeBytes);
void mgpuMemHostUnregister(void *ptr);
void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                               int64_t elementSizeBytes);
void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                 int64_t elementSizeBytes);
void *mgpuTensorMapEncodeTiledMemref(int64_t tensorRank, void *descriptor,
                                     int32_t tensorDataType, int32_t interleave,
                                     int32_t swizzle, int32_t l2Promotion,
                                     int32_t oobFill, int64_t *inputBoxDims);
}

namespace {

#define MHMOE_CUDA_API(X)                                                      \
  X(mgpuModuleLoad)                                                            \
  X(mgpuModuleLoadJIT)                                                         \
  X(mgpuModuleUnload) X(mgpuModuleGetFunction) X(mgpuLaunchKernel) X(          \
      mgpuLaunchClusterKernel) X(mgpuStreamCreate) X(mgpuStreamDestroy)        \
      X(mgpuStreamSynchronize) X(mgpuStreamWaitEvent) X(mgpuEventCreate) X(    \
          mgpuEventDestroy) X(mgpuEventSynchronize) X(mgpuEventRecord)         \
          X(mgpuMemAlloc) X(mgpuMemFree) X(mgpuMemcpy) X(mgpuMemset32) X(      \
              mgpuMemset16) X(mgpuSetDefaultDevice) X(mgpuMemHostRegister)     \
              X(mgpuMemHostUnregister) X(mgpuMemHostRegisterMemRef) X(         \
                  mgpuMemHostUnregisterMemRef)                                 \
                  X(mgpuTensorMapEncodeTiledMemref) X(mhmoe_cuda_available) X( \
                      mhmoe_cuda_error) X(mhmoe_cuda_clear_error)              \
                      X(mhmoe_cuda_device_name) X(mhmoe_cuda_device_memory) X( \
                          mhmoe_cuda_compute_capability) X(mhmoe_cuda_malloc)  \
                          X(mhmoe_cuda_free) X(mhmoe_cuda_upload)              \
                              X(mhmoe_cuda_download) X(mhmoe_cuda_synchronize) \
                                  X(mhmoe_cuda_event_create)                   \
                                      X(mhmoe_cuda_event_record)               \
                                          X(mhmoe_cuda_event_elapsed_ms)       \
                                              X(mhmoe_cuda_event_destroy)

// The exported functions of one instance of the runtime.
struct Api {
#define DECLARE(fn) decltype(&::fn) fn = nullptr;
  MHMOE_CUDA_API(DECLARE)
#undef DECLARE
  std::string error() const { return mhmoe_cuda_error(); }
};

const Api &linkedApi() {
  static const Api api = [] {
    Api a;
#define TAKE(fn) a.fn = &::fn;
    MHMOE_CUDA_API(TAKE)
#undef TAKE
    return a;
  }();
  return api;
}

using Env = std::map<std::string, std::string>;
const char *const kRuntimeVariables[] = {
    "MHMOE_CUDA_DRIVER_LIBRARY", "MHMOE_CUDA_DEVICE", "MHMOE_CUDA_ASYNC_ALLOC",
    "MHMOE_FAKE_CUDA_MODE"};

// Sets exactly the runtime variables in `env` (unsets the others) for its
// lifetime.
class ScopedEnv {
public:
  explicit ScopedEnv(const Env &env) {
    for (const char *name : kRuntimeVariables) {
      if (const char *old = getenv(name))
        saved[name] = old;
      auto it = env.find(name);
      if (it == env.end())
        unsetenv(name);
      else
        setenv(name, it->second.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const char *name : kRuntimeVariables) {
      auto it = saved.find(name);
      if (it == saved.end())
        unsetenv(name);
      else
        setenv(name, it->second.c_str(), 1);
    }
  }

private:
  Env saved;
};

// Loads a private copy of libMHMoECudaRuntime.so: a fresh instance whose
// state no other test has touched.
Api loadCopy() {
  static std::atomic<int> counter{0};
  namespace fs = std::filesystem;
  fs::path path = fs::temp_directory_path() /
                  ("libMHMoECudaRuntime-test-" + std::to_string(getpid()) +
                   "-" + std::to_string(counter++) + ".so");
  fs::copy_file(MHMOE_CUDA_RUNTIME_LIB, path,
                fs::copy_options::overwrite_existing);
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  fs::remove(path);
  Api a;
  if (!handle) {
    ADD_FAILURE() << "dlopen(" << path << "): " << dlerror();
    return a;
  }
#define RESOLVE(fn)                                                            \
  a.fn = reinterpret_cast<decltype(a.fn)>(dlsym(handle, #fn));                 \
  EXPECT_NE(a.fn, nullptr) << #fn;
  MHMOE_CUDA_API(RESOLVE)
#undef RESOLVE
  return a;
}

// A fresh instance initialised with `env` (the runtime reads its variables
// once, at initialisation).
Api loadInitialised(const Env &env) {
  Api a = loadCopy();
  ScopedEnv scoped(env);
  if (a.mhmoe_cuda_available)
    a.mhmoe_cuda_available();
  return a;
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

// A memref descriptor of rank 2 (StridedMemRefType<T, 2>).
struct MemRef2 {
  void *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
};

// Calls every entry point with null or harmless arguments.
void callEverything(const Api &a) {
  char blob[64];
  memset(blob, 0x5a, sizeof(blob));
  blob[sizeof(blob) - 1] = '\0';
  EXPECT_EQ(a.mgpuModuleLoad(blob, sizeof(blob)), nullptr);
  EXPECT_EQ(a.mgpuModuleLoad(nullptr, 0), nullptr);
  EXPECT_EQ(a.mgpuModuleLoadJIT(blob, 2, sizeof(blob)), nullptr);
  a.mgpuModuleUnload(nullptr);
  EXPECT_EQ(a.mgpuModuleGetFunction(nullptr, "kernel"), nullptr);
  a.mgpuLaunchKernel(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr,
                     0);
  a.mgpuLaunchClusterKernel(nullptr, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, nullptr,
                            nullptr, nullptr, 0);
  EXPECT_EQ(a.mgpuStreamCreate(), nullptr);
  a.mgpuStreamSynchronize(nullptr);
  a.mgpuStreamWaitEvent(nullptr, nullptr);
  a.mgpuStreamDestroy(nullptr);
  EXPECT_EQ(a.mgpuEventCreate(), nullptr);
  a.mgpuEventRecord(nullptr, nullptr);
  a.mgpuEventSynchronize(nullptr);
  a.mgpuEventDestroy(nullptr);
  EXPECT_EQ(a.mgpuMemAlloc(0, nullptr, false), nullptr);
  EXPECT_EQ(a.mgpuMemAlloc(1024, nullptr, false), nullptr);
  EXPECT_EQ(a.mgpuMemAlloc(1024, nullptr, true), nullptr);
  a.mgpuMemFree(nullptr, nullptr);
  a.mgpuMemcpy(nullptr, nullptr, 0, nullptr);
  a.mgpuMemset32(nullptr, 0, 0, nullptr);
  a.mgpuMemset16(nullptr, 0, 0, nullptr);
  float data[12] = {};
  MemRef2 memref{data, data, 0, {3, 4}, {4, 1}};
  a.mgpuMemHostRegister(data, sizeof(data));
  a.mgpuMemHostUnregister(data);
  a.mgpuMemHostRegisterMemRef(2, &memref, sizeof(float));
  a.mgpuMemHostUnregisterMemRef(2, &memref, sizeof(float));
  a.mgpuMemHostRegisterMemRef(2, nullptr, sizeof(float));
  int64_t box[2] = {1, 4};
  EXPECT_EQ(a.mgpuTensorMapEncodeTiledMemref(2, &memref, 7, 0, 0, 0, 0, box),
            nullptr);
  EXPECT_EQ(
      a.mgpuTensorMapEncodeTiledMemref(0, nullptr, 7, 0, 0, 0, 0, nullptr),
      nullptr);
  a.mgpuSetDefaultDevice(0);
}

//===----------------------------------------------------------------------===//
// Without a driver (a copy pointed at a library that does not exist: runs on
// every machine).
//===----------------------------------------------------------------------===//

const char *const kMissingDriver = "/nonexistent/mhmoe-test/libcuda.so.1";

TEST(CudaNoDriver, ReportsUnavailableWithTheReason) {
  Api a = loadInitialised({{"MHMOE_CUDA_DRIVER_LIBRARY", kMissingDriver}});
  EXPECT_EQ(a.mhmoe_cuda_available(), 0);
  std::string error = a.mhmoe_cuda_error();
  EXPECT_TRUE(contains(error, "no CUDA driver")) << error;
  EXPECT_TRUE(contains(error, kMissingDriver)) << error;
  EXPECT_TRUE(contains(error, "could not be loaded")) << error;
}

TEST(CudaNoDriver, EveryEntryPointIsASafeNoOp) {
  Api a = loadInitialised({{"MHMOE_CUDA_DRIVER_LIBRARY", kMissingDriver}});
  callEverything(a);
  EXPECT_TRUE(contains(a.mhmoe_cuda_error(), "no CUDA driver"));
}

TEST(CudaNoDriver, ModuleLoadBeforeAnythingElseRecordsTheError) {
  // As from a compiled library's global constructor: the first call.
  Api a = loadCopy();
  ScopedEnv env(Env{{"MHMOE_CUDA_DRIVER_LIBRARY", kMissingDriver}});
  std::vector<unsigned char> blob(4096);
  for (size_t i = 0; i < blob.size(); ++i)
    blob[i] = static_cast<unsigned char>((i * 2654435761u) >> 13);
  blob.back() = 0;
  EXPECT_EQ(a.mgpuModuleLoad(blob.data(), blob.size()), nullptr);
  EXPECT_TRUE(contains(a.mhmoe_cuda_error(), "no CUDA driver"));
}

TEST(CudaNoDriver, HelpersFailCleanly) {
  Api a = loadInitialised({{"MHMOE_CUDA_DRIVER_LIBRARY", kMissingDriver}});
  char name[64] = "unchanged";
  EXPECT_NE(a.mhmoe_cuda_device_name(name, sizeof(name)), 0);
  EXPECT_STREQ(name, "");
  EXPECT_NE(a.mhmoe_cuda_device_name(nullptr, 0), 0);
  EXPECT_EQ(a.mhmoe_cuda_device_memory(), 0);
  EXPECT_EQ(a.mhmoe_cuda_compute_capability(), 0);
  EXPECT_EQ(a.mhmoe_cuda_malloc(0), nullptr);
  EXPECT_EQ(a.mhmoe_cuda_malloc(1 << 20), nullptr);
  a.mhmoe_cuda_free(nullptr);
  float host[4] = {1, 2, 3, 4};
  EXPECT_NE(a.mhmoe_cuda_upload(host, host, sizeof(host)), 0);
  EXPECT_NE(a.mhmoe_cuda_download(host, host, sizeof(host)), 0);
  EXPECT_EQ(a.mhmoe_cuda_upload(nullptr, nullptr, 0), 0);
  EXPECT_NE(a.mhmoe_cuda_synchronize(), 0);
  EXPECT_EQ(a.mhmoe_cuda_event_create(), nullptr);
  EXPECT_NE(a.mhmoe_cuda_event_record(nullptr), 0);
  EXPECT_LT(a.mhmoe_cuda_event_elapsed_ms(nullptr, nullptr), 0.0f);
  a.mhmoe_cuda_event_destroy(nullptr);
  EXPECT_EQ(host[0], 1.0f);
}

TEST(CudaNoDriver, ErrorIsStickyAndClearable) {
  Api a = loadInitialised({{"MHMOE_CUDA_DRIVER_LIBRARY", kMissingDriver}});
  std::string first = a.mhmoe_cuda_error();
  ASSERT_FALSE(first.empty());
  // Later, different failures keep the first message.
  a.mgpuLaunchKernel(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr,
                     0);
  a.mgpuEventRecord(nullptr, nullptr);
  EXPECT_EQ(a.mhmoe_cuda_error(), first);
  a.mhmoe_cuda_clear_error();
  EXPECT_STREQ(a.mhmoe_cuda_error(), "");
  // A null kernel is reported as such once the error is clear.
  a.mgpuLaunchKernel(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr,
                     0);
  EXPECT_TRUE(contains(a.mhmoe_cuda_error(), "kernel function is null"));
  a.mhmoe_cuda_clear_error();
  // Calls that need the driver report it missing again.
  EXPECT_EQ(a.mgpuMemAlloc(16, nullptr, false), nullptr);
  EXPECT_EQ(a.mhmoe_cuda_error(), first);
  a.mhmoe_cuda_clear_error();
  // Size-0 allocation and null frees are no errors.
  EXPECT_EQ(a.mgpuMemAlloc(0, nullptr, false), nullptr);
  a.mgpuMemFree(nullptr, nullptr);
  a.mgpuModuleUnload(nullptr);
  EXPECT_STREQ(a.mhmoe_cuda_error(), "");
}

TEST(CudaNoDriver, ConcurrentFirstUseIsSafe) {
  Api a = loadCopy(); // Not initialised: the threads race to initialise it.
  ScopedEnv env(Env{{"MHMOE_CUDA_DRIVER_LIBRARY", kMissingDriver}});
  std::vector<std::thread> threads;
  std::atomic<int> nonNull{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&a, &nonNull, t] {
      for (int i = 0; i < 200; ++i) {
        if (a.mgpuMemAlloc(64 + t, nullptr, false))
          ++nonNull;
        if (a.mgpuStreamCreate())
          ++nonNull;
        a.mgpuLaunchKernel(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr,
                           nullptr, 0);
        if (a.mhmoe_cuda_available())
          ++nonNull;
        (void)a.mhmoe_cuda_error();
        if (i % 50 == 0)
          a.mhmoe_cuda_clear_error();
      }
    });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(nonNull.load(), 0);
  EXPECT_EQ(a.mhmoe_cuda_available(), 0);
  EXPECT_TRUE(contains(a.mhmoe_cuda_error(), "no CUDA driver") ||
              contains(a.mhmoe_cuda_error(), "kernel function is null"));
}

TEST(CudaNoDriver, LibraryWithoutCuInitIsNotADriver) {
  Api a = loadInitialised({{"MHMOE_CUDA_DRIVER_LIBRARY", "libc.so.6"}});
  EXPECT_EQ(a.mhmoe_cuda_available(), 0);
  EXPECT_EQ(a.error(), "no CUDA driver: libc.so.6 lacks cuInit");
  callEverything(a);
}

// The linked library, as the machine is: without libcuda.so.1 it must say so.
TEST(CudaNoDriver, LinkedLibraryReportsTheMachine) {
  const Api &a = linkedApi();
  if (a.mhmoe_cuda_available())
    GTEST_SKIP() << "a CUDA device is available";
  std::string error = a.mhmoe_cuda_error();
  EXPECT_FALSE(error.empty());
  if (void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(driver);
    GTEST_SKIP() << "libcuda.so.1 is installed but unusable: " << error;
  }
  EXPECT_TRUE(contains(error, "no CUDA driver: libcuda.so.1 could not be "
                              "loaded"))
      << error;
  callEverything(a);
}

//===----------------------------------------------------------------------===//
// With the fake driver.
//===----------------------------------------------------------------------===//

class CudaFakeDriver : public ::testing::Test {
protected:
  void SetUp() override { stats = statsOf(MHMOE_FAKE_CUDA_DRIVER_LIB); }

  static FakeCudaStats *statsOf(const char *fakePath) {
    void *fake = dlopen(fakePath, RTLD_NOW | RTLD_LOCAL);
    EXPECT_NE(fake, nullptr) << dlerror();
    if (!fake)
      return nullptr;
    auto reset = reinterpret_cast<void (*)()>(dlsym(fake, "fakeCudaReset"));
    auto get =
        reinterpret_cast<FakeCudaStats *(*)()>(dlsym(fake, "fakeCudaStats"));
    reset();
    return get();
  }

  static Api load(Env env = {},
                  const char *fakePath = MHMOE_FAKE_CUDA_DRIVER_LIB) {
    env["MHMOE_CUDA_DRIVER_LIBRARY"] = fakePath;
    return loadInitialised(env);
  }

  FakeCudaStats *stats = nullptr;
};

TEST_F(CudaFakeDriver, ReportsTheDevice) {
  Api a = load();
  EXPECT_EQ(a.mhmoe_cuda_available(), 1);
  EXPECT_EQ(a.error(), "");
  char name[64];
  EXPECT_EQ(a.mhmoe_cuda_device_name(name, sizeof(name)), 0);
  EXPECT_STREQ(name, "Fake CUDA Device 0");
  EXPECT_EQ(a.mhmoe_cuda_device_name(name, 5), 0);
  EXPECT_STREQ(name, "Fake");
  EXPECT_EQ(a.mhmoe_cuda_device_memory(), int64_t(80) << 30);
  EXPECT_EQ(a.mhmoe_cuda_compute_capability(), 90);
  // The stream-ordered pool keeps freed memory for reuse.
  EXPECT_EQ(stats->poolReleaseThreshold, UINT64_MAX);
  EXPECT_GT(stats->ctxSetCurrent, 0);
  EXPECT_EQ(a.error(), "");
}

TEST_F(CudaFakeDriver, CuInitFailureIsReported) {
  Api a = load({{"MHMOE_FAKE_CUDA_MODE", "nodevice"}});
  EXPECT_EQ(a.mhmoe_cuda_available(), 0);
  EXPECT_EQ(a.error(), "cuInit failed: CUDA_ERROR_NO_DEVICE: no CUDA-capable "
                       "device is detected (100)");
  a.mhmoe_cuda_clear_error();
  EXPECT_EQ(a.mgpuMemAlloc(16, nullptr, false), nullptr);
  EXPECT_TRUE(contains(a.error(), "cuInit failed"));
  callEverything(a);
}

TEST_F(CudaFakeDriver, NoDevicesIsReported) {
  Api a = load({{"MHMOE_FAKE_CUDA_MODE", "zero"}});
  EXPECT_EQ(a.mhmoe_cuda_available(), 0);
  EXPECT_TRUE(contains(a.error(), "no CUDA device")) << a.error();
}

TEST_F(CudaFakeDriver, PrimaryContextFailureIsReported) {
  Api a = load({{"MHMOE_FAKE_CUDA_MODE", "ctxfail"}});
  EXPECT_EQ(a.mhmoe_cuda_available(), 0);
  EXPECT_EQ(a.error(), "cuDevicePrimaryCtxRetain(device 0) failed: "
                       "CUDA_ERROR_OUT_OF_MEMORY: out of memory (2)");
  callEverything(a);
}

TEST_F(CudaFakeDriver, DeviceSelection) {
  Api a = load({{"MHMOE_FAKE_CUDA_MODE", "two"}, {"MHMOE_CUDA_DEVICE", "1"}});
  char name[64];
  EXPECT_EQ(a.mhmoe_cuda_device_name(name, sizeof(name)), 0);
  EXPECT_STREQ(name, "Fake CUDA Device 1");
  a.mgpuSetDefaultDevice(0);
  EXPECT_EQ(a.mhmoe_cuda_device_name(name, sizeof(name)), 0);
  EXPECT_STREQ(name, "Fake CUDA Device 0");
  a.mgpuSetDefaultDevice(7);
  EXPECT_EQ(a.mhmoe_cuda_available(), 0);
  EXPECT_TRUE(contains(a.error(), "CUDA device 7 does not exist")) << a.error();
  a.mhmoe_cuda_clear_error();
  a.mgpuSetDefaultDevice(1);
  EXPECT_EQ(a.mhmoe_cuda_available(), 1);
  EXPECT_EQ(a.error(), "");
}

TEST_F(CudaFakeDriver, InvalidDeviceVariableIsReported) {
  Api a = load({{"MHMOE_CUDA_DEVICE", "gpu0"}});
  EXPECT_EQ(a.mhmoe_cuda_available(), 0);
  EXPECT_TRUE(contains(a.error(), "MHMOE_CUDA_DEVICE=gpu0")) << a.error();
  Api b = load({{"MHMOE_CUDA_DEVICE", "1"}});
  EXPECT_EQ(b.mhmoe_cuda_available(), 0);
  EXPECT_TRUE(contains(b.error(), "MHMOE_CUDA_DEVICE=1")) << b.error();
}

TEST_F(CudaFakeDriver, MemoryUsesTheStreamOrderedAllocator) {
  Api a = load();
  void *stream = a.mgpuStreamCreate();
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stats->lastStreamFlags, 1u); // CU_STREAM_NON_BLOCKING
  void *buffer = a.mgpuMemAlloc(256, stream, false);
  ASSERT_NE(buffer, nullptr);
  EXPECT_EQ(stats->memAllocAsync, 1);
  EXPECT_EQ(stats->lastAllocStream, stream);
  a.mgpuMemset32(buffer, 0x3f800000u, 64, stream);
  float out[64] = {};
  a.mgpuMemcpy(out, buffer, sizeof(out), stream);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[63], 1.0f);
  a.mgpuMemset16(buffer, 0xabcd, 128, stream);
  unsigned short halves[128] = {};
  a.mgpuMemcpy(halves, buffer, sizeof(halves), stream);
  EXPECT_EQ(halves[127], 0xabcd);
  a.mgpuStreamSynchronize(stream);
  a.mgpuMemFree(buffer, stream);
  EXPECT_EQ(stats->memFreeAsync, 1);
  EXPECT_EQ(stats->lastFreeStream, stream);

  // Host-shared memory is managed memory, released with cuMemFree.
  void *shared = a.mgpuMemAlloc(64, stream, true);
  ASSERT_NE(shared, nullptr);
  EXPECT_EQ(stats->memAllocManaged, 1);
  a.mgpuMemFree(shared, stream);
  EXPECT_EQ(stats->memFree, 1);
  EXPECT_EQ(stats->memFreeAsync, 1);

  EXPECT_EQ(a.mgpuMemAlloc(0, stream, false), nullptr);
  EXPECT_EQ(stats->memAllocAsync + stats->memAlloc, 1);
  a.mgpuStreamDestroy(stream);
  EXPECT_EQ(a.error(), "");
}

TEST_F(CudaFakeDriver, StreamOrderedAllocatorCanBeOff) {
  Api a = load({{"MHMOE_CUDA_ASYNC_ALLOC", "0"}});
  a.mgpuMemFree(a.mgpuMemAlloc(32, nullptr, false), nullptr);
  Api b = load({{"MHMOE_FAKE_CUDA_MODE", "nopools"}});
  b.mgpuMemFree(b.mgpuMemAlloc(32, nullptr, false), nullptr);
  EXPECT_EQ(stats->memAlloc, 2);
  EXPECT_EQ(stats->memFree, 2);
  EXPECT_EQ(stats->memAllocAsync, 0);
  EXPECT_EQ(a.error(), "");
  EXPECT_EQ(b.error(), "");
}

TEST_F(CudaFakeDriver, ModulesAndLaunches) {
  Api a = load();
  char cubin[] = "FAKECUBIN kernels";
  void *module = a.mgpuModuleLoad(cubin, sizeof(cubin));
  ASSERT_NE(module, nullptr);
  void *kernel = a.mgpuModuleGetFunction(module, "matmul");
  ASSERT_NE(kernel, nullptr);
  void *stream = a.mgpuStreamCreate();
  int arg = 42;
  void *params[] = {&arg};
  a.mgpuLaunchKernel(kernel, 2, 3, 4, 128, 2, 1, 1024, stream, params, nullptr,
                     1);
  EXPECT_EQ(stats->launches, 1);
  EXPECT_EQ(stats->lastGrid[0], 2u);
  EXPECT_EQ(stats->lastGrid[1], 3u);
  EXPECT_EQ(stats->lastGrid[2], 4u);
  EXPECT_EQ(stats->lastBlock[0], 128u);
  EXPECT_EQ(stats->lastBlock[1], 2u);
  EXPECT_EQ(stats->lastSmem, 1024u);
  EXPECT_EQ(stats->lastParams, params);
  EXPECT_EQ(stats->maxDynamicSharedAttr, 0); // 1 KiB needs no opt-in.
  a.mgpuLaunchKernel(kernel, 1, 1, 1, 32, 1, 1, 100 * 1024, stream, params,
                     nullptr, 1);
  EXPECT_EQ(stats->maxDynamicSharedAttr, 100 * 1024);
  EXPECT_EQ(stats->launches, 2);

  a.mgpuLaunchClusterKernel(kernel, 2, 1, 1, 8, 1, 1, 256, 1, 1, 0, stream,
                            params, nullptr, 1);
  EXPECT_EQ(stats->launchesEx, 1);
  EXPECT_EQ(stats->lastCluster[0], 2u);
  EXPECT_EQ(stats->lastCluster[1], 1u);
  EXPECT_EQ(stats->lastCluster[2], 1u);
  EXPECT_EQ(stats->lastClusterPolicy, 1); // SPREAD
  EXPECT_EQ(stats->lastNumAttrs, 2u);
  EXPECT_EQ(stats->lastGrid[0], 8u);
  EXPECT_EQ(stats->lastBlock[0], 256u);

  char ptx[] = "// ptx\n.version 8.0\n";
  void *jitted = a.mgpuModuleLoadJIT(ptx, 3, sizeof(ptx));
  EXPECT_NE(jitted, nullptr);
  EXPECT_EQ(stats->jitOptLevel, 3);
  a.mgpuModuleUnload(jitted);
  a.mgpuModuleUnload(module);
  EXPECT_EQ(stats->moduleUnloads, 2);
  a.mgpuStreamDestroy(stream);
  EXPECT_EQ(a.error(), "");
}

TEST_F(CudaFakeDriver, ModuleAndLaunchFailuresAreReported) {
  Api a = load();
  std::vector<char> blob(1000);
  for (size_t i = 0; i < blob.size(); ++i)
    blob[i] = static_cast<char>(i * 7919 + 13);
  blob.back() = '\0';
  EXPECT_EQ(a.mgpuModuleLoad(blob.data(), blob.size()), nullptr);
  EXPECT_EQ(a.error(), "cuModuleLoadData failed: CUDA_ERROR_INVALID_IMAGE: "
                       "device kernel image is invalid (200)");
  a.mhmoe_cuda_clear_error();

  char bad[] = ".version nonsense";
  EXPECT_EQ(a.mgpuModuleLoadJIT(bad, 2, sizeof(bad)), nullptr);
  EXPECT_TRUE(contains(a.error(), "CUDA_ERROR_INVALID_PTX")) << a.error();
  EXPECT_TRUE(contains(a.error(), "ptxas fatal: fake syntax error"))
      << a.error();
  a.mhmoe_cuda_clear_error();

  char cubin[] = "FAKECUBIN";
  void *module = a.mgpuModuleLoad(cubin, sizeof(cubin));
  EXPECT_EQ(a.mgpuModuleGetFunction(module, "missing"), nullptr);
  EXPECT_TRUE(contains(a.error(), "cuModuleGetFunction(missing) failed: "
                                  "CUDA_ERROR_NOT_FOUND"))
      << a.error();
  a.mhmoe_cuda_clear_error();

  void *faulty = a.mgpuModuleGetFunction(module, "faulty");
  a.mgpuLaunchKernel(faulty, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(a.error(), "cuLaunchKernel(faulty) failed: "
                       "CUDA_ERROR_LAUNCH_FAILED: unspecified launch failure "
                       "(719)");
  a.mhmoe_cuda_clear_error();

  void *kernel = a.mgpuModuleGetFunction(module, "ok");
  a.mgpuLaunchKernel(kernel, -1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr,
                     0);
  EXPECT_TRUE(contains(a.error(), "cuLaunchKernel(ok): invalid launch"))
      << a.error();
  a.mhmoe_cuda_clear_error();
  a.mgpuLaunchKernel(kernel, intptr_t(1) << 40, 1, 1, 1, 1, 1, 0, nullptr,
                     nullptr, nullptr, 0);
  EXPECT_TRUE(contains(a.error(), "invalid launch")) << a.error();
  EXPECT_EQ(stats->launches, 0);
  a.mhmoe_cuda_clear_error();

  a.mgpuLaunchKernel(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr,
                     0);
  EXPECT_EQ(a.error(), "mgpuLaunchKernel: kernel function is null");
  a.mgpuModuleUnload(module);
}

TEST_F(CudaFakeDriver, OldDriverUsesLegacyNamesAndReportsMissingFeatures) {
  stats = statsOf(MHMOE_FAKE_CUDA_DRIVER_OLD_LIB);
  ASSERT_NE(stats, nullptr);
  Api a = load({}, MHMOE_FAKE_CUDA_DRIVER_OLD_LIB);
  EXPECT_EQ(a.mhmoe_cuda_available(), 1);
  EXPECT_EQ(a.mhmoe_cuda_device_memory(), int64_t(80) << 30);
  // No cuMemAllocAsync: plain cuMemAlloc / cuMemFree.
  void *buffer = a.mgpuMemAlloc(64, nullptr, false);
  ASSERT_NE(buffer, nullptr);
  a.mgpuMemFree(buffer, nullptr);
  EXPECT_EQ(stats->memAlloc, 1);
  EXPECT_EQ(stats->memFree, 1);
  float in[4] = {1, 2, 3, 4}, out[4] = {};
  void *weights = a.mhmoe_cuda_malloc(sizeof(in));
  EXPECT_EQ(a.mhmoe_cuda_upload(weights, in, sizeof(in)), 0);
  EXPECT_EQ(a.mhmoe_cuda_download(out, weights, sizeof(out)), 0);
  EXPECT_EQ(out[3], 4.0f);
  a.mhmoe_cuda_free(weights);
  void *stream = a.mgpuStreamCreate();
  a.mgpuStreamDestroy(stream);
  void *event = a.mgpuEventCreate();
  a.mgpuEventDestroy(event);
  EXPECT_EQ(a.error(), "");

  // Without cuFuncGetName the runtime remembers the kernel's name.
  char cubin[] = "FAKECUBIN";
  void *module = a.mgpuModuleLoad(cubin, sizeof(cubin));
  void *faulty = a.mgpuModuleGetFunction(module, "faulty");
  a.mgpuLaunchKernel(faulty, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  EXPECT_TRUE(contains(a.error(), "cuLaunchKernel(faulty) failed"))
      << a.error();
  a.mhmoe_cuda_clear_error();

  void *kernel = a.mgpuModuleGetFunction(module, "k");
  a.mgpuLaunchClusterKernel(kernel, 2, 1, 1, 2, 1, 1, 32, 1, 1, 0, nullptr,
                            nullptr, nullptr, 0);
  EXPECT_TRUE(contains(a.error(), "lacks cuLaunchKernelEx")) << a.error();
  a.mhmoe_cuda_clear_error();

  float data[12];
  MemRef2 memref{data, data, 0, {3, 4}, {4, 1}};
  int64_t box[2] = {1, 4};
  EXPECT_EQ(a.mgpuTensorMapEncodeTiledMemref(2, &memref, 7, 0, 0, 0, 0, box),
            nullptr);
  EXPECT_TRUE(contains(a.error(), "lacks cuTensorMapEncodeTiled")) << a.error();
  a.mgpuModuleUnload(module);
}

TEST_F(CudaFakeDriver, TensorMapsAreEncodedAndCached) {
  Api a = load();
  alignas(128) static uint16_t data[64 * 128 + 8];
  // A 64x128 f16 memref starting 8 elements into its buffer.
  MemRef2 memref{data, data, 8, {64, 128}, {128, 1}};
  int64_t box[2] = {16, 32};
  void *map = a.mgpuTensorMapEncodeTiledMemref(2, &memref, /*FLOAT16=*/6, 0, 3,
                                               2, 0, box);
  ASSERT_NE(map, nullptr) << a.error();
  EXPECT_EQ(stats->tmaRank, 2u);
  EXPECT_EQ(stats->tmaDataType, 6);
  EXPECT_EQ(stats->tmaAddress, static_cast<void *>(data + 8));
  EXPECT_EQ(stats->tmaDim[0], 128u); // Innermost first.
  EXPECT_EQ(stats->tmaDim[1], 64u);
  EXPECT_EQ(stats->tmaStrides[0], 256u); // Bytes.
  EXPECT_EQ(stats->tmaBox[0], 32u);
  EXPECT_EQ(stats->tmaBox[1], 16u);
  // The returned pointer is a device copy of the map.
  EXPECT_EQ(static_cast<uint64_t *>(map)[0], 128u);
  // Same memref and box: same device copy, no new allocation.
  EXPECT_EQ(a.mgpuTensorMapEncodeTiledMemref(2, &memref, 6, 0, 3, 2, 0, box),
            map);
  EXPECT_EQ(stats->memAlloc, 1);
  int64_t otherBox[2] = {8, 32};
  void *other =
      a.mgpuTensorMapEncodeTiledMemref(2, &memref, 6, 0, 3, 2, 0, otherBox);
  EXPECT_NE(other, nullptr);
  EXPECT_NE(other, map);
  EXPECT_EQ(a.error(), "");

  EXPECT_EQ(a.mgpuTensorMapEncodeTiledMemref(6, &memref, 6, 0, 0, 0, 0, box),
            nullptr);
  EXPECT_TRUE(contains(a.error(), "unsupported tensor map")) << a.error();
}

TEST_F(CudaFakeDriver, HostRegistrationOfMemRefs) {
  Api a = load();
  float data[20];
  MemRef2 memref{data, data, 2, {3, 4}, {4, 1}};
  a.mgpuMemHostRegisterMemRef(2, &memref, sizeof(float));
  EXPECT_EQ(stats->hostRegistered, static_cast<void *>(data + 2));
  EXPECT_EQ(stats->hostRegisteredBytes, 12 * sizeof(float));
  a.mgpuMemHostUnregisterMemRef(2, &memref, sizeof(float));
  EXPECT_EQ(stats->hostUnregistered, static_cast<void *>(data + 2));
  EXPECT_EQ(a.error(), "");

  stats->hostRegistered = nullptr;
  MemRef2 strided{data, data, 0, {3, 2}, {4, 2}};
  a.mgpuMemHostRegisterMemRef(2, &strided, sizeof(float));
  EXPECT_EQ(stats->hostRegistered, nullptr);
  EXPECT_TRUE(contains(a.error(), "only dense memrefs")) << a.error();
}

TEST_F(CudaFakeDriver, HelpersAndEvents) {
  Api a = load();
  std::vector<float> in(1000), out(1000);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = static_cast<float>(i) * 0.5f;
  void *weights = a.mhmoe_cuda_malloc(in.size() * sizeof(float));
  ASSERT_NE(weights, nullptr);
  EXPECT_EQ(stats->memAlloc, 1); // Plain cuMemAlloc, not the pool.
  EXPECT_EQ(a.mhmoe_cuda_upload(weights, in.data(), in.size() * 4), 0);
  EXPECT_EQ(a.mhmoe_cuda_download(out.data(), weights, out.size() * 4), 0);
  EXPECT_EQ(in, out);
  EXPECT_EQ(a.mhmoe_cuda_synchronize(), 0);
  a.mhmoe_cuda_free(weights);
  EXPECT_EQ(stats->memFree, 1);

  void *start = a.mhmoe_cuda_event_create();
  void *stop = a.mhmoe_cuda_event_create();
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(stats->lastEventFlags, 0u); // Timing enabled.
  EXPECT_EQ(a.mhmoe_cuda_event_record(start), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(a.mhmoe_cuda_event_record(stop), 0);
  EXPECT_GE(a.mhmoe_cuda_event_elapsed_ms(start, stop), 1.0f);
  a.mhmoe_cuda_event_destroy(start);
  a.mhmoe_cuda_event_destroy(stop);
  EXPECT_EQ(a.error(), "");

  // mgpu events are created without timing, as upstream's.
  void *stream = a.mgpuStreamCreate();
  void *event = a.mgpuEventCreate();
  EXPECT_EQ(stats->lastEventFlags, 2u);
  a.mgpuEventRecord(event, stream);
  a.mgpuStreamWaitEvent(nullptr, event);
  a.mgpuEventSynchronize(event);
  EXPECT_LT(a.mhmoe_cuda_event_elapsed_ms(event, event), 0.0f);
  EXPECT_TRUE(contains(a.error(), "cuEventElapsedTime failed")) << a.error();
  a.mgpuEventDestroy(event);
  a.mgpuStreamDestroy(stream);
}

TEST_F(CudaFakeDriver, ConcurrentUseFromManyThreads) {
  Api a = loadCopy(); // Threads race to initialise it.
  ScopedEnv env(Env{{"MHMOE_CUDA_DRIVER_LIBRARY", MHMOE_FAKE_CUDA_DRIVER_LIB}});
  char cubin[] = "FAKECUBIN";
  constexpr int kThreads = 8, kIterations = 200;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      void *module = a.mgpuModuleLoad(cubin, sizeof(cubin));
      void *kernel = a.mgpuModuleGetFunction(module, "k");
      void *stream = a.mgpuStreamCreate();
      for (int i = 0; i < kIterations; ++i) {
        auto *buffer =
            static_cast<unsigned *>(a.mgpuMemAlloc(64, stream, false));
        if (!buffer) {
          ++failures;
          continue;
        }
        a.mgpuMemset32(buffer, unsigned(i), 16, stream);
        unsigned out[16];
        a.mgpuMemcpy(out, buffer, sizeof(out), stream);
        if (out[15] != unsigned(i))
          ++failures;
        a.mgpuLaunchKernel(kernel, 1, 1, 1, 32, 1, 1, 0, stream, nullptr,
                           nullptr, 0);
        a.mgpuMemFree(buffer, stream);
      }
      a.mgpuStreamSynchronize(stream);
      a.mgpuStreamDestroy(stream);
      a.mgpuModuleUnload(module);
    });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(stats->memAllocAsync, kThreads * kIterations);
  EXPECT_EQ(stats->memFreeAsync, kThreads * kIterations);
  EXPECT_EQ(stats->launches, kThreads * kIterations);
  EXPECT_EQ(stats->moduleUnloads, kThreads);
  EXPECT_GE(stats->ctxSetCurrent, kThreads * kIterations * 5);
  EXPECT_EQ(a.error(), "");
}

//===----------------------------------------------------------------------===//
// On a real device (skipped unless the linked library finds one).
//===----------------------------------------------------------------------===//

class CudaRealDevice : public ::testing::Test {
protected:
  void SetUp() override {
    if (!api().mhmoe_cuda_available())
      GTEST_SKIP() << "no CUDA device: " << api().mhmoe_cuda_error();
    api().mhmoe_cuda_clear_error();
    ran = true;
  }
  void TearDown() override {
    if (ran) {
      EXPECT_STREQ(api().mhmoe_cuda_error(), "");
    }
  }
  static const Api &api() { return linkedApi(); }
  bool ran = false;
};

TEST_F(CudaRealDevice, ReportsTheDevice) {
  const Api &a = api();
  char name[256];
  EXPECT_EQ(a.mhmoe_cuda_device_name(name, sizeof(name)), 0);
  EXPECT_GT(strlen(name), 0u);
  EXPECT_GT(a.mhmoe_cuda_device_memory(), int64_t(1) << 30);
  EXPECT_GE(a.mhmoe_cuda_compute_capability(), 30);
  std::cout << "device: " << name << ", "
            << (a.mhmoe_cuda_device_memory() >> 20) << " MiB, sm_"
            << a.mhmoe_cuda_compute_capability() << "\n";
}

TEST_F(CudaRealDevice, UploadDownloadRoundTrip) {
  const Api &a = api();
  std::vector<float> in(1 << 20), out(in.size());
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = static_cast<float>(i % 977) - 3.25f;
  size_t bytes = in.size() * sizeof(float);
  void *device = a.mhmoe_cuda_malloc(bytes);
  ASSERT_NE(device, nullptr) << a.mhmoe_cuda_error();
  EXPECT_EQ(a.mhmoe_cuda_upload(device, in.data(), bytes), 0);
  EXPECT_EQ(a.mhmoe_cuda_download(out.data(), device, bytes), 0);
  EXPECT_EQ(in, out);
  EXPECT_EQ(a.mhmoe_cuda_synchronize(), 0);
  a.mhmoe_cuda_free(device);
}

TEST_F(CudaRealDevice, EventTiming) {
  const Api &a = api();
  void *start = a.mhmoe_cuda_event_create();
  void *stop = a.mhmoe_cuda_event_create();
  ASSERT_NE(start, nullptr);
  ASSERT_NE(stop, nullptr);
  std::vector<char> host(64 << 20, 1);
  void *device = a.mhmoe_cuda_malloc(host.size());
  EXPECT_EQ(a.mhmoe_cuda_event_record(start), 0);
  EXPECT_EQ(a.mhmoe_cuda_upload(device, host.data(), host.size()), 0);
  EXPECT_EQ(a.mhmoe_cuda_event_record(stop), 0);
  float ms = a.mhmoe_cuda_event_elapsed_ms(start, stop);
  EXPECT_GT(ms, 0.0f);
  EXPECT_LT(ms, 10000.0f);
  a.mhmoe_cuda_free(device);
  a.mhmoe_cuda_event_destroy(start);
  a.mhmoe_cuda_event_destroy(stop);
}

TEST_F(CudaRealDevice, StreamsAndStreamOrderedMemory) {
  const Api &a = api();
  void *stream = a.mgpuStreamCreate();
  ASSERT_NE(stream, nullptr);
  void *event = a.mgpuEventCreate();
  ASSERT_NE(event, nullptr);
  constexpr size_t kCount = 1 << 16;
  void *buffer = a.mgpuMemAlloc(kCount * 4, stream, false);
  ASSERT_NE(buffer, nullptr);
  a.mgpuMemset32(buffer, 0x40490fdbu, kCount, stream); // pi
  std::vector<float> out(kCount);
  a.mgpuMemcpy(out.data(), buffer, kCount * 4, stream);
  a.mgpuEventRecord(event, stream);
  a.mgpuStreamWaitEvent(nullptr, event);
  a.mgpuEventSynchronize(event);
  a.mgpuStreamSynchronize(stream);
  EXPECT_FLOAT_EQ(out[0], 3.14159274f);
  EXPECT_FLOAT_EQ(out[kCount - 1], 3.14159274f);
  a.mgpuMemset16(buffer, 0x3c00, 2, stream); // f16 1.0
  a.mgpuMemFree(buffer, stream);
  // Freed memory is reused by the next allocation of the same size.
  void *again = a.mgpuMemAlloc(kCount * 4, stream, false);
  EXPECT_NE(again, nullptr);
  a.mgpuMemFree(again, stream);
  void *shared = a.mgpuMemAlloc(256, stream, true);
  ASSERT_NE(shared, nullptr);
  a.mgpuStreamSynchronize(stream);
  static_cast<float *>(shared)[0] = 2.5f; // Managed: host-accessible.
  a.mgpuMemFree(shared, stream);
  a.mgpuStreamSynchronize(stream);
  a.mgpuEventDestroy(event);
  a.mgpuStreamDestroy(stream);
}

TEST_F(CudaRealDevice, RandomBlobIsRejected) {
  const Api &a = api();
  std::vector<unsigned char> blob(4096);
  for (size_t i = 0; i < blob.size(); ++i)
    blob[i] = static_cast<unsigned char>((i * 2654435761u) >> 13);
  blob.back() = 0;
  EXPECT_EQ(a.mgpuModuleLoad(blob.data(), blob.size()), nullptr);
  EXPECT_TRUE(contains(a.mhmoe_cuda_error(), "cuModuleLoadData failed"));
  a.mhmoe_cuda_clear_error();
}

} // namespace

#endif // MHMOE_FAKE_CUDA_DRIVER
