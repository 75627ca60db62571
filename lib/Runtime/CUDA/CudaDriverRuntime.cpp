//===- CudaDriverRuntime.cpp - mgpu* and mhmoe_cuda_* over the driver API -===//
//
// The runtime functions that MLIR's gpu-to-llvm lowering calls (the same
// names and signatures as MLIR's CudaRuntimeWrappers.cpp) and the project's
// mhmoe_cuda_* API, implemented over the dlopen'd CUDA driver (see
// CudaDriverApi.h and docs/cuda-runtime.md). Every failure records the sticky
// first error and degrades to a no-op returning null.
//
//===----------------------------------------------------------------------===//
#include "CudaDriverApi.h"

#include "mhmoe/Runtime/mhmoe_cuda.h"

#include <array>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

using namespace mhmoe::cuda;

#define MGPU_EXPORT extern "C" __attribute__((visibility("default")))
#define NEED(driver, fn) require((driver).fn, #fn)

namespace {

CUdeviceptr toDevicePtr(const void *ptr) {
  return reinterpret_cast<CUdeviceptr>(ptr);
}
void *fromDevicePtr(CUdeviceptr ptr) { return reinterpret_cast<void *>(ptr); }
CUstream toStream(void *stream) { return static_cast<CUstream>(stream); }
CUevent toEvent(void *event) { return static_cast<CUevent>(event); }

// Bookkeeping shared by the entry points; never destroyed (see state()).
struct Registry {
  std::mutex mutex;
  // Kernel names for error messages (drivers before 12.3 lack cuFuncGetName).
  std::unordered_map<CUfunction, std::pair<CUmodule, std::string>> kernels;
  // mgpuMemAlloc(isHostShared) allocations, which cuMemFree releases.
  std::unordered_set<CUdeviceptr> managed;
  std::atomic<size_t> managedCount{0};
  // Device copies of tensor maps, by device and contents.
  std::map<std::pair<int, std::array<uint64_t, 16>>, CUdeviceptr> tensorMaps;
};

Registry &registry() {
  static Registry *r = new Registry();
  return *r;
}

void kernelName(const Driver &d, CUfunction function, char *buf, size_t size) {
  const char *name = nullptr;
  if (d.cuFuncGetName && d.cuFuncGetName(&name, function) == CUDA_SUCCESS &&
      name) {
    snprintf(buf, size, "%s", name);
    return;
  }
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.kernels.find(function);
  snprintf(buf, size, "%s",
           it == r.kernels.end() ? "<unknown kernel>"
                                 : it->second.second.c_str());
}

bool toUnsigned(intptr_t value, unsigned &out) {
  if (value < 0 || static_cast<uintmax_t>(value) > UINT_MAX)
    return false;
  out = static_cast<unsigned>(value);
  return true;
}

// cuLaunchKernel, or cuLaunchKernelEx with a cluster shape if cluster is set.
void launch(const Driver &d, CUfunction function, const intptr_t *cluster,
            const intptr_t grid[3], const intptr_t block[3], int32_t smem,
            CUstream stream, void **params, void **extra) {
  const char *api = cluster ? "cuLaunchKernelEx" : "cuLaunchKernel";
  char name[256];
  unsigned g[3], b[3], c[3] = {1, 1, 1};
  bool valid = smem >= 0;
  for (int i = 0; i < 3; ++i)
    valid = valid && toUnsigned(grid[i], g[i]) && toUnsigned(block[i], b[i]) &&
            (!cluster || toUnsigned(cluster[i], c[i]));
  if (!valid) {
    kernelName(d, function, name, sizeof(name));
    recordError("%s(%s): invalid launch configuration (grid %ld x %ld x %ld, "
                "block %ld x %ld x %ld, %d bytes of shared memory)",
                api, name, static_cast<long>(grid[0]),
                static_cast<long>(grid[1]), static_cast<long>(grid[2]),
                static_cast<long>(block[0]), static_cast<long>(block[1]),
                static_cast<long>(block[2]), static_cast<int>(smem));
    return;
  }
  // Dynamic shared memory above 48 KiB must be opted into per kernel.
  if (smem > 48 * 1024 && NEED(d, cuFuncSetAttribute)) {
    CUresult result = d.cuFuncSetAttribute(
        function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem);
    if (result != CUDA_SUCCESS) {
      kernelName(d, function, name, sizeof(name));
      check(result, "cuFuncSetAttribute(%s, %d bytes of shared memory)", name,
            static_cast<int>(smem));
      return;
    }
  }
  CUresult result;
  if (!cluster) {
    if (!NEED(d, cuLaunchKernel))
      return;
    result =
        d.cuLaunchKernel(function, g[0], g[1], g[2], b[0], b[1], b[2],
                         static_cast<unsigned>(smem), stream, params, extra);
  } else {
    if (!NEED(d, cuLaunchKernelEx))
      return;
    CUlaunchAttribute attrs[2];
    memset(attrs, 0, sizeof(attrs));
    attrs[0].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    attrs[0].value.clusterDim.x = c[0];
    attrs[0].value.clusterDim.y = c[1];
    attrs[0].value.clusterDim.z = c[2];
    attrs[1].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE;
    attrs[1].value.clusterSchedulingPolicyPreference =
        CU_CLUSTER_SCHEDULING_POLICY_SPREAD;
    CUlaunchConfig config;
    memset(&config, 0, sizeof(config));
    config.gridDimX = g[0];
    config.gridDimY = g[1];
    config.gridDimZ = g[2];
    config.blockDimX = b[0];
    config.blockDimY = b[1];
    config.blockDimZ = b[2];
    config.sharedMemBytes = static_cast<unsigned>(smem);
    config.hStream = stream;
    config.attrs = attrs;
    config.numAttrs = 2;
    result = d.cuLaunchKernelEx(&config, function, params, extra);
  }
  if (result != CUDA_SUCCESS) {
    kernelName(d, function, name, sizeof(name));
    check(result, "%s(%s)", api, name);
  }
}

// The parts of an MLIR StridedMemRefType<T, rank> descriptor: allocated and
// aligned pointers, offset, sizes[rank], strides[rank].
struct MemRef {
  char *aligned;
  int64_t offset;
  const int64_t *sizes;
  const int64_t *strides;
};

MemRef readMemRef(int64_t rank, void *descriptor) {
  char **pointers = static_cast<char **>(descriptor);
  const int64_t *fields = reinterpret_cast<const int64_t *>(pointers + 2);
  return {pointers[1], fields[0], fields + 1, fields + 1 + rank};
}

} // namespace

//===----------------------------------------------------------------------===//
// Modules and kernels.
//===----------------------------------------------------------------------===//

MGPU_EXPORT void *mgpuModuleLoad(void *data, size_t /*gpuBlobSize*/) {
  if (!data) {
    recordError("mgpuModuleLoad: the GPU binary is null");
    return nullptr;
  }
  const Driver *d = enter();
  CUmodule module = nullptr;
  if (!d || !NEED(*d, cuModuleLoadData) ||
      !check(d->cuModuleLoadData(&module, data), "cuModuleLoadData"))
    return nullptr;
  return module;
}

MGPU_EXPORT void *mgpuModuleLoadJIT(void *data, int optLevel,
                                    size_t /*assemblySize*/) {
  if (!data) {
    recordError("mgpuModuleLoadJIT: the PTX is null");
    return nullptr;
  }
  const Driver *d = enter();
  if (!d || !NEED(*d, cuModuleLoadDataEx))
    return nullptr;
  char log[4096] = {};
  int options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                   CU_JIT_OPTIMIZATION_LEVEL};
  void *values[] = {log, reinterpret_cast<void *>(sizeof(log)),
                    reinterpret_cast<void *>(static_cast<intptr_t>(optLevel))};
  CUmodule module = nullptr;
  CUresult result = d->cuModuleLoadDataEx(&module, data, 3, options, values);
  if (result != CUDA_SUCCESS) {
    log[sizeof(log) - 1] = '\0';
    char description[256];
    describe(result, description, sizeof(description));
    recordError("cuModuleLoadDataEx (PTX JIT, level %d) failed: %s%s%s",
                optLevel, description, log[0] ? "; JIT log: " : "", log);
    return nullptr;
  }
  return module;
}

MGPU_EXPORT void mgpuModuleUnload(void *module) {
  if (!module)
    return;
  {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (auto it = r.kernels.begin(); it != r.kernels.end();)
      it = it->second.first == module ? r.kernels.erase(it) : std::next(it);
  }
  const Driver *d = enter();
  if (d && NEED(*d, cuModuleUnload))
    check(d->cuModuleUnload(static_cast<CUmodule>(module)), "cuModuleUnload");
}

MGPU_EXPORT void *mgpuModuleGetFunction(void *module, const char *name) {
  if (!module || !name) {
    recordError("mgpuModuleGetFunction(%s): the %s is null", name ? name : "",
                module ? "name" : "module");
    return nullptr;
  }
  const Driver *d = enter();
  CUfunction function = nullptr;
  if (!d || !NEED(*d, cuModuleGetFunction) ||
      !check(d->cuModuleGetFunction(&function, static_cast<CUmodule>(module),
                                    name),
             "cuModuleGetFunction(%s)", name))
    return nullptr;
  try {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.kernels[function] = {static_cast<CUmodule>(module), name};
  } catch (...) {
    // Only error messages would lack the name.
  }
  return function;
}

MGPU_EXPORT void mgpuLaunchKernel(void *function, intptr_t gridX,
                                  intptr_t gridY, intptr_t gridZ,
                                  intptr_t blockX, intptr_t blockY,
                                  intptr_t blockZ, int32_t smem, void *stream,
                                  void **params, void **extra,
                                  size_t /*paramsCount*/) {
  if (!function) {
    recordError("mgpuLaunchKernel: kernel function is null");
    return;
  }
  const Driver *d = enter();
  if (!d)
    return;
  const intptr_t grid[3] = {gridX, gridY, gridZ};
  const intptr_t block[3] = {blockX, blockY, blockZ};
  launch(*d, static_cast<CUfunction>(function), nullptr, grid, block, smem,
         toStream(stream), params, extra);
}

MGPU_EXPORT void
mgpuLaunchClusterKernel(void *function, intptr_t clusterX, intptr_t clusterY,
                        intptr_t clusterZ, intptr_t gridX, intptr_t gridY,
                        intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                        intptr_t blockZ, int32_t smem, void *stream,
                        void **params, void **extra, size_t /*paramsCount*/) {
  if (!function) {
    recordError("mgpuLaunchClusterKernel: kernel function is null");
    return;
  }
  const Driver *d = enter();
  if (!d)
    return;
  const intptr_t cluster[3] = {clusterX, clusterY, clusterZ};
  const intptr_t grid[3] = {gridX, gridY, gridZ};
  const intptr_t block[3] = {blockX, blockY, blockZ};
  launch(*d, static_cast<CUfunction>(function), cluster, grid, block, smem,
         toStream(stream), params, extra);
}

//===----------------------------------------------------------------------===//
// Streams and events.
//===----------------------------------------------------------------------===//

MGPU_EXPORT void *mgpuStreamCreate(void) {
  const Driver *d = enter();
  CUstream stream = nullptr;
  if (!d || !NEED(*d, cuStreamCreate) ||
      !check(d->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING),
             "cuStreamCreate"))
    return nullptr;
  return stream;
}

MGPU_EXPORT void mgpuStreamDestroy(void *stream) {
  if (!stream)
    return;
  const Driver *d = enter();
  if (d && NEED(*d, cuStreamDestroy))
    check(d->cuStreamDestroy(toStream(stream)), "cuStreamDestroy");
}

MGPU_EXPORT void mgpuStreamSynchronize(void *stream) {
  const Driver *d = enter();
  if (d && NEED(*d, cuStreamSynchronize))
    check(d->cuStreamSynchronize(toStream(stream)), "cuStreamSynchronize");
}

MGPU_EXPORT void mgpuStreamWaitEvent(void *stream, void *event) {
  if (!event) {
    recordError("mgpuStreamWaitEvent: the event is null");
    return;
  }
  const Driver *d = enter();
  if (d && NEED(*d, cuStreamWaitEvent))
    check(d->cuStreamWaitEvent(toStream(stream), toEvent(event), 0),
          "cuStreamWaitEvent");
}

MGPU_EXPORT void *mgpuEventCreate(void) {
  const Driver *d = enter();
  CUevent event = nullptr;
  if (!d || !NEED(*d, cuEventCreate) ||
      !check(d->cuEventCreate(&event, CU_EVENT_DISABLE_TIMING),
             "cuEventCreate"))
    return nullptr;
  return event;
}

namespace {
void eventDestroy(void *event) {
  if (!event)
    return;
  const Driver *d = enter();
  if (d && NEED(*d, cuEventDestroy))
    check(d->cuEventDestroy(toEvent(event)), "cuEventDestroy");
}
} // namespace

MGPU_EXPORT void mgpuEventDestroy(void *event) { eventDestroy(event); }

MGPU_EXPORT void mgpuEventSynchronize(void *event) {
  if (!event) {
    recordError("mgpuEventSynchronize: the event is null");
    return;
  }
  const Driver *d = enter();
  if (d && NEED(*d, cuEventSynchronize))
    check(d->cuEventSynchronize(toEvent(event)), "cuEventSynchronize");
}

MGPU_EXPORT void mgpuEventRecord(void *event, void *stream) {
  if (!event) {
    recordError("mgpuEventRecord: the event is null");
    return;
  }
  const Driver *d = enter();
  if (d && NEED(*d, cuEventRecord))
    check(d->cuEventRecord(toEvent(event), toStream(stream)), "cuEventRecord");
}

//===----------------------------------------------------------------------===//
// Memory.
//===----------------------------------------------------------------------===//

MGPU_EXPORT void *mgpuMemAlloc(uint64_t sizeBytes, void *stream,
                               bool isHostShared) {
  if (sizeBytes == 0)
    return nullptr;
  const Device *device = nullptr;
  const Driver *d = enter(&device);
  if (!d)
    return nullptr;
  unsigned long long bytes = sizeBytes;
  CUdeviceptr ptr = 0;
  if (isHostShared) {
    if (!NEED(*d, cuMemAllocManaged) ||
        !check(d->cuMemAllocManaged(&ptr, sizeBytes, CU_MEM_ATTACH_GLOBAL),
               "cuMemAllocManaged(%llu bytes)", bytes))
      return nullptr;
    Registry &r = registry();
    try {
      std::lock_guard<std::mutex> lock(r.mutex);
      r.managed.insert(ptr);
      r.managedCount.fetch_add(1, std::memory_order_relaxed);
    } catch (...) {
      if (d->cuMemFree)
        d->cuMemFree(ptr);
      recordError("mgpuMemAlloc: out of host memory");
      return nullptr;
    }
    return fromDevicePtr(ptr);
  }
  if (device->asyncAlloc) {
    if (!check(d->cuMemAllocAsync(&ptr, sizeBytes, toStream(stream)),
               "cuMemAllocAsync(%llu bytes)", bytes))
      return nullptr;
  } else if (!NEED(*d, cuMemAlloc) || !check(d->cuMemAlloc(&ptr, sizeBytes),
                                             "cuMemAlloc(%llu bytes)", bytes)) {
    return nullptr;
  }
  return fromDevicePtr(ptr);
}

MGPU_EXPORT void mgpuMemFree(void *ptr, void *stream) {
  if (!ptr)
    return;
  const Device *device = nullptr;
  const Driver *d = enter(&device);
  if (!d)
    return;
  bool managed = false;
  Registry &r = registry();
  if (r.managedCount.load(std::memory_order_relaxed) != 0) {
    std::lock_guard<std::mutex> lock(r.mutex);
    managed = r.managed.erase(toDevicePtr(ptr)) != 0;
    if (managed)
      r.managedCount.fetch_sub(1, std::memory_order_relaxed);
  }
  if (!managed && device->asyncAlloc)
    check(d->cuMemFreeAsync(toDevicePtr(ptr), toStream(stream)),
          "cuMemFreeAsync");
  else if (NEED(*d, cuMemFree))
    check(d->cuMemFree(toDevicePtr(ptr)), "cuMemFree");
}

MGPU_EXPORT void mgpuMemcpy(void *dst, void *src, size_t sizeBytes,
                            void *stream) {
  if (sizeBytes == 0)
    return;
  const Driver *d = enter();
  if (d && NEED(*d, cuMemcpyAsync))
    check(d->cuMemcpyAsync(toDevicePtr(dst), toDevicePtr(src), sizeBytes,
                           toStream(stream)),
          "cuMemcpyAsync(%zu bytes)", sizeBytes);
}

MGPU_EXPORT void mgpuMemset32(void *dst, unsigned int value, size_t count,
                              void *stream) {
  if (count == 0)
    return;
  const Driver *d = enter();
  if (d && NEED(*d, cuMemsetD32Async))
    check(d->cuMemsetD32Async(toDevicePtr(dst), value, count, toStream(stream)),
          "cuMemsetD32Async(%zu values)", count);
}

MGPU_EXPORT void mgpuMemset16(void *dst, unsigned short value, size_t count,
                              void *stream) {
  if (count == 0)
    return;
  const Driver *d = enter();
  if (d && NEED(*d, cuMemsetD16Async))
    check(d->cuMemsetD16Async(toDevicePtr(dst), value, count, toStream(stream)),
          "cuMemsetD16Async(%zu values)", count);
}

MGPU_EXPORT void mgpuSetDefaultDevice(int32_t device) {
  setDefaultDevice(device);
}

// Exported functions call each other through these, never through the
// exported (interposable) symbols.
namespace {
void hostRegister(void *ptr, uint64_t sizeBytes) {
  if (sizeBytes == 0)
    return;
  if (!ptr) {
    recordError("mgpuMemHostRegister: the pointer is null");
    return;
  }
  const Driver *d = enter();
  if (d && NEED(*d, cuMemHostRegister))
    check(d->cuMemHostRegister(ptr, sizeBytes, 0),
          "cuMemHostRegister(%llu bytes)",
          static_cast<unsigned long long>(sizeBytes));
}

void hostUnregister(void *ptr) {
  if (!ptr)
    return;
  const Driver *d = enter();
  if (d && NEED(*d, cuMemHostUnregister))
    check(d->cuMemHostUnregister(ptr), "cuMemHostUnregister");
}
} // namespace

MGPU_EXPORT void mgpuMemHostRegister(void *ptr, uint64_t sizeBytes) {
  hostRegister(ptr, sizeBytes);
}

MGPU_EXPORT void mgpuMemHostUnregister(void *ptr) { hostUnregister(ptr); }

// Registers the dense extent of a memref, starting at aligned + offset.
MGPU_EXPORT void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                                           int64_t elementSizeBytes) {
  if (!descriptor || rank < 0 || elementSizeBytes <= 0) {
    recordError("mgpuMemHostRegisterMemRef: invalid memref (rank %lld, "
                "element size %lld)",
                static_cast<long long>(rank),
                static_cast<long long>(elementSizeBytes));
    return;
  }
  MemRef memref = readMemRef(rank, descriptor);
  int64_t elements = 1;
  for (int64_t i = rank - 1; i >= 0; --i) {
    if (memref.sizes[i] < 0 || memref.strides[i] != elements) {
      recordError("mgpuMemHostRegisterMemRef: only dense memrefs can be "
                  "registered (dimension %lld has size %lld, stride %lld)",
                  static_cast<long long>(i),
                  static_cast<long long>(memref.sizes[i]),
                  static_cast<long long>(memref.strides[i]));
      return;
    }
    elements *= memref.sizes[i];
  }
  hostRegister(memref.aligned + memref.offset * elementSizeBytes,
               static_cast<uint64_t>(elements * elementSizeBytes));
}

MGPU_EXPORT void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                             int64_t elementSizeBytes) {
  if (!descriptor || rank < 0)
    return;
  MemRef memref = readMemRef(rank, descriptor);
  hostUnregister(memref.aligned + memref.offset * elementSizeBytes);
}

//===----------------------------------------------------------------------===//
// TMA tensor maps (CUDA 12.0+ drivers).
//===----------------------------------------------------------------------===//

// Encodes a tiled tensor map of a memref (dimensions innermost first, as the
// driver wants them) and returns a device copy. Copies are cached by device
// and contents, so the same memref and box give the same pointer and repeated
// calls do not leak; they live until the process exits.
MGPU_EXPORT void *
mgpuTensorMapEncodeTiledMemref(int64_t tensorRank, void *descriptor,
                               int32_t tensorDataType, int32_t interleave,
                               int32_t swizzle, int32_t l2Promotion,
                               int32_t oobFill, int64_t *inputBoxDims) {
  static constexpr int64_t elementBytes[kMaxTensorMapDataType + 1] = {
      1, 2, 4, 4, 8, 8, 2, 4, 8, 2, 4, 4, 4};
  if (tensorRank < 1 || tensorRank > 5 || !descriptor || !inputBoxDims ||
      tensorDataType < 0 || tensorDataType > kMaxTensorMapDataType) {
    recordError("mgpuTensorMapEncodeTiledMemref: unsupported tensor map "
                "(rank %lld, data type %d)",
                static_cast<long long>(tensorRank),
                static_cast<int>(tensorDataType));
    return nullptr;
  }
  const Device *device = nullptr;
  const Driver *d = enter(&device);
  if (!d || !NEED(*d, cuTensorMapEncodeTiled) || !NEED(*d, cuMemAlloc) ||
      !NEED(*d, cuMemcpyHtoD) || !NEED(*d, cuStreamSynchronize))
    return nullptr;

  MemRef memref = readMemRef(tensorRank, descriptor);
  int64_t elementSize = elementBytes[tensorDataType];
  uint64_t globalDim[5] = {1, 1, 1, 1, 1}, globalStrides[5] = {0, 0, 0, 0, 0};
  uint32_t boxDim[5] = {1, 1, 1, 1, 1}, elementStrides[5] = {1, 1, 1, 1, 1};
  for (int64_t r = 0; r < tensorRank; ++r) {
    globalDim[r] = static_cast<uint64_t>(memref.sizes[tensorRank - 1 - r]);
    boxDim[r] = static_cast<uint32_t>(inputBoxDims[tensorRank - 1 - r]);
  }
  for (int64_t r = 0; r + 1 < tensorRank; ++r)
    globalStrides[r] =
        static_cast<uint64_t>(memref.strides[tensorRank - 2 - r] * elementSize);
  char *address = memref.aligned + memref.offset * elementSize;

  CUtensorMap map;
  memset(&map, 0, sizeof(map));
  if (!check(d->cuTensorMapEncodeTiled(
                 &map, tensorDataType, static_cast<uint32_t>(tensorRank),
                 address, globalDim, globalStrides, boxDim, elementStrides,
                 interleave, swizzle, l2Promotion, oobFill),
             "cuTensorMapEncodeTiled(rank %lld)",
             static_cast<long long>(tensorRank)))
    return nullptr;

  Registry &r = registry();
  try {
    std::pair<int, std::array<uint64_t, 16>> key{device->ordinal, {}};
    memcpy(key.second.data(), map.opaque, sizeof(map.opaque));
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.tensorMaps.find(key);
    if (it != r.tensorMaps.end())
      return fromDevicePtr(it->second);
    CUdeviceptr copy = 0;
    if (!check(d->cuMemAlloc(&copy, sizeof(map)), "cuMemAlloc(tensor map)"))
      return nullptr;
    // cuMemcpyHtoD may return before a pageable copy lands: wait for it.
    if (!check(d->cuMemcpyHtoD(copy, &map, sizeof(map)),
               "cuMemcpyHtoD(tensor map)") ||
        !check(d->cuStreamSynchronize(nullptr), "cuStreamSynchronize")) {
      if (d->cuMemFree)
        d->cuMemFree(copy);
      return nullptr;
    }
    r.tensorMaps.emplace(key, copy);
    return fromDevicePtr(copy);
  } catch (...) {
    recordError("mgpuTensorMapEncodeTiledMemref: out of host memory");
    return nullptr;
  }
}

//===----------------------------------------------------------------------===//
// The project's API (mhmoe_cuda.h).
//===----------------------------------------------------------------------===//

extern "C" {

int mhmoe_cuda_available(void) { return enter() ? 1 : 0; }

const char *mhmoe_cuda_error(void) { return firstError(); }

void mhmoe_cuda_clear_error(void) { clearError(); }

int mhmoe_cuda_device_name(char *buf, int len) {
  if (!buf || len <= 0) {
    recordError("mhmoe_cuda_device_name: no buffer");
    return 1;
  }
  buf[0] = '\0';
  const Device *device = nullptr;
  const Driver *d = enter(&device);
  if (!d || !NEED(*d, cuDeviceGetName) ||
      !check(d->cuDeviceGetName(buf, len, device->handle), "cuDeviceGetName")) {
    buf[0] = '\0';
    return 1;
  }
  buf[len - 1] = '\0';
  return 0;
}

int64_t mhmoe_cuda_device_memory(void) {
  const Device *device = nullptr;
  const Driver *d = enter(&device);
  size_t bytes = 0;
  if (!d || !NEED(*d, cuDeviceTotalMem) ||
      !check(d->cuDeviceTotalMem(&bytes, device->handle), "cuDeviceTotalMem"))
    return 0;
  return static_cast<int64_t>(bytes);
}

int mhmoe_cuda_compute_capability(void) {
  const Device *device = nullptr;
  const Driver *d = enter(&device);
  int major = 0, minor = 0;
  if (!d || !NEED(*d, cuDeviceGetAttribute) ||
      !check(d->cuDeviceGetAttribute(
                 &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                 device->handle),
             "cuDeviceGetAttribute(compute capability)") ||
      !check(d->cuDeviceGetAttribute(
                 &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                 device->handle),
             "cuDeviceGetAttribute(compute capability)"))
    return 0;
  return major * 10 + minor;
}

void *mhmoe_cuda_malloc(uint64_t bytes) {
  if (bytes == 0)
    return nullptr;
  const Driver *d = enter();
  CUdeviceptr ptr = 0;
  if (!d || !NEED(*d, cuMemAlloc) ||
      !check(d->cuMemAlloc(&ptr, bytes), "cuMemAlloc(%llu bytes)",
             static_cast<unsigned long long>(bytes)))
    return nullptr;
  return fromDevicePtr(ptr);
}

void mhmoe_cuda_free(void *device_ptr) {
  if (!device_ptr)
    return;
  const Driver *d = enter();
  if (d && NEED(*d, cuMemFree))
    check(d->cuMemFree(toDevicePtr(device_ptr)), "cuMemFree");
}

int mhmoe_cuda_upload(void *dst_device, const void *src_host, uint64_t bytes) {
  if (bytes == 0)
    return 0;
  if (!dst_device || !src_host) {
    recordError("mhmoe_cuda_upload: null pointer");
    return 1;
  }
  const Driver *d = enter();
  // The copy is on the legacy default stream; wait until it has landed, as
  // a pageable copy may return early and other streams do not wait for it.
  if (!d || !NEED(*d, cuMemcpyHtoD) || !NEED(*d, cuStreamSynchronize) ||
      !check(d->cuMemcpyHtoD(toDevicePtr(dst_device), src_host, bytes),
             "cuMemcpyHtoD(%llu bytes)",
             static_cast<unsigned long long>(bytes)) ||
      !check(d->cuStreamSynchronize(nullptr), "cuStreamSynchronize"))
    return 1;
  return 0;
}

int mhmoe_cuda_download(void *dst_host, const void *src_device,
                        uint64_t bytes) {
  if (bytes == 0)
    return 0;
  if (!dst_host || !src_device) {
    recordError("mhmoe_cuda_download: null pointer");
    return 1;
  }
  const Driver *d = enter();
  if (!d || !NEED(*d, cuMemcpyDtoH) ||
      !check(d->cuMemcpyDtoH(dst_host, toDevicePtr(src_device), bytes),
             "cuMemcpyDtoH(%llu bytes)",
             static_cast<unsigned long long>(bytes)))
    return 1;
  return 0;
}

int mhmoe_cuda_synchronize(void) {
  const Driver *d = enter();
  if (!d || !NEED(*d, cuCtxSynchronize) ||
      !check(d->cuCtxSynchronize(), "cuCtxSynchronize"))
    return 1;
  return 0;
}

void *mhmoe_cuda_event_create(void) {
  const Driver *d = enter();
  CUevent event = nullptr;
  if (!d || !NEED(*d, cuEventCreate) ||
      !check(d->cuEventCreate(&event, CU_EVENT_DEFAULT), "cuEventCreate"))
    return nullptr;
  return event;
}

int mhmoe_cuda_event_record(void *event) {
  if (!event) {
    recordError("mhmoe_cuda_event_record: the event is null");
    return 1;
  }
  const Driver *d = enter();
  if (!d || !NEED(*d, cuEventRecord) ||
      !check(d->cuEventRecord(toEvent(event), nullptr), "cuEventRecord"))
    return 1;
  return 0;
}

float mhmoe_cuda_event_elapsed_ms(void *start, void *stop) {
  if (!start || !stop) {
    recordError("mhmoe_cuda_event_elapsed_ms: null event");
    return -1.0f;
  }
  const Driver *d = enter();
  float ms = 0.0f;
  if (!d || !NEED(*d, cuEventSynchronize) || !NEED(*d, cuEventElapsedTime) ||
      !check(d->cuEventSynchronize(toEvent(stop)), "cuEventSynchronize") ||
      !check(d->cuEventElapsedTime(&ms, toEvent(start), toEvent(stop)),
             "cuEventElapsedTime"))
    return -1.0f;
  return ms;
}

void mhmoe_cuda_event_destroy(void *event) { eventDestroy(event); }

} // extern "C"
