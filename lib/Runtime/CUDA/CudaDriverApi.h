//===- CudaDriverApi.h - CUDA driver API resolved with dlopen ---*- C++ -*-===//
//
// The subset of the CUDA driver API that libMHMoECudaRuntime uses, declared
// here (ABI-compatible with cuda.h) so that no CUDA headers or libraries are
// needed to build, and resolved at run time from libcuda.so.1. Also holds the
// runtime's process-wide state: lazy initialisation, the selected device's
// primary context and the sticky first error.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_RUNTIME_CUDA_CUDADRIVERAPI_H
#define MHMOE_LIB_RUNTIME_CUDA_CUDADRIVERAPI_H

#include <cstddef>
#include <cstdint>

namespace mhmoe::cuda {

//===----------------------------------------------------------------------===//
// Driver types and constants (values as in cuda.h).
//===----------------------------------------------------------------------===//

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;
using CUmemoryPool = struct CUmemPoolHandle_st *;

constexpr CUresult CUDA_SUCCESS = 0;

// CUjit_option
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
constexpr int CU_JIT_OPTIMIZATION_LEVEL = 7;
// CUdevice_attribute
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED = 115;
// CUfunction_attribute
constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
// CUmemPool_attribute
constexpr int CU_MEMPOOL_ATTR_RELEASE_THRESHOLD = 4;
// Flags.
constexpr unsigned CU_STREAM_NON_BLOCKING = 1;
constexpr unsigned CU_EVENT_DEFAULT = 0;
constexpr unsigned CU_EVENT_DISABLE_TIMING = 2;
constexpr unsigned CU_MEM_ATTACH_GLOBAL = 1;
// CUlaunchAttributeID / CUclusterSchedulingPolicy
constexpr int CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION = 4;
constexpr int CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE = 5;
constexpr int CU_CLUSTER_SCHEDULING_POLICY_SPREAD = 1;
// Largest CUtensorMapDataType whose element size is whole bytes (TFLOAT32_FTZ).
constexpr int kMaxTensorMapDataType = 12;

struct CUlaunchAttribute {
  int id;
  char pad[4];
  union {
    char bytes[64];
    void *alignment; // The real union holds pointers.
    struct {
      unsigned x, y, z;
    } clusterDim;
    int clusterSchedulingPolicyPreference;
  } value;
};
static_assert(sizeof(CUlaunchAttribute) == 72, "CUlaunchAttribute layout");

struct CUlaunchConfig {
  unsigned gridDimX, gridDimY, gridDimZ;
  unsigned blockDimX, blockDimY, blockDimZ;
  unsigned sharedMemBytes;
  CUstream hStream;
  CUlaunchAttribute *attrs;
  unsigned numAttrs;
};
static_assert(sizeof(CUlaunchConfig) == 56, "CUlaunchConfig layout");

struct alignas(64) CUtensorMap {
  uint64_t opaque[16];
};
static_assert(sizeof(CUtensorMap) == 128, "CUtensorMap layout");

//===----------------------------------------------------------------------===//
// The function table.
//===----------------------------------------------------------------------===//

// X(member, signature, symbol names to try in order). The first four groups
// are required; a driver lacking one of them is reported as unusable.
#define MHMOE_CUDA_REQUIRED_FUNCTIONS(X)                                       \
  X(cuInit, CUresult(unsigned), "cuInit")                                      \
  X(cuDeviceGetCount, CUresult(int *), "cuDeviceGetCount")                     \
  X(cuDeviceGet, CUresult(CUdevice *, int), "cuDeviceGet")                     \
  X(cuDevicePrimaryCtxRetain, CUresult(CUcontext *, CUdevice),                 \
    "cuDevicePrimaryCtxRetain")                                                \
  X(cuCtxSetCurrent, CUresult(CUcontext), "cuCtxSetCurrent")

#define MHMOE_CUDA_OPTIONAL_FUNCTIONS(X)                                       \
  X(cuGetErrorName, CUresult(CUresult, const char **), "cuGetErrorName")       \
  X(cuGetErrorString, CUresult(CUresult, const char **), "cuGetErrorString")   \
  X(cuDeviceGetName, CUresult(char *, int, CUdevice), "cuDeviceGetName")       \
  X(cuDeviceTotalMem, CUresult(size_t *, CUdevice), "cuDeviceTotalMem_v2",     \
    "cuDeviceTotalMem")                                                        \
  X(cuDeviceGetAttribute, CUresult(int *, int, CUdevice),                      \
    "cuDeviceGetAttribute")                                                    \
  X(cuDeviceGetDefaultMemPool, CUresult(CUmemoryPool *, CUdevice),             \
    "cuDeviceGetDefaultMemPool")                                               \
  X(cuMemPoolSetAttribute, CUresult(CUmemoryPool, int, void *),                \
    "cuMemPoolSetAttribute")                                                   \
  X(cuCtxSynchronize, CUresult(), "cuCtxSynchronize")                          \
  X(cuModuleLoadData, CUresult(CUmodule *, const void *), "cuModuleLoadData")  \
  X(cuModuleLoadDataEx,                                                        \
    CUresult(CUmodule *, const void *, unsigned, int *, void **),              \
    "cuModuleLoadDataEx")                                                      \
  X(cuModuleUnload, CUresult(CUmodule), "cuModuleUnload")                      \
  X(cuModuleGetFunction, CUresult(CUfunction *, CUmodule, const char *),       \
    "cuModuleGetFunction")                                                     \
  X(cuFuncSetAttribute, CUresult(CUfunction, int, int), "cuFuncSetAttribute")  \
  X(cuFuncGetName, CUresult(const char **, CUfunction), "cuFuncGetName")       \
  X(cuLaunchKernel,                                                            \
    CUresult(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,     \
             unsigned, unsigned, CUstream, void **, void **),                  \
    "cuLaunchKernel")                                                          \
  X(cuLaunchKernelEx,                                                          \
    CUresult(const CUlaunchConfig *, CUfunction, void **, void **),            \
    "cuLaunchKernelEx")                                                        \
  X(cuStreamCreate, CUresult(CUstream *, unsigned), "cuStreamCreate")          \
  X(cuStreamDestroy, CUresult(CUstream), "cuStreamDestroy_v2",                 \
    "cuStreamDestroy")                                                         \
  X(cuStreamSynchronize, CUresult(CUstream), "cuStreamSynchronize")            \
  X(cuStreamWaitEvent, CUresult(CUstream, CUevent, unsigned),                  \
    "cuStreamWaitEvent")                                                       \
  X(cuEventCreate, CUresult(CUevent *, unsigned), "cuEventCreate")             \
  X(cuEventDestroy, CUresult(CUevent), "cuEventDestroy_v2", "cuEventDestroy")  \
  X(cuEventRecord, CUresult(CUevent, CUstream), "cuEventRecord")               \
  X(cuEventSynchronize, CUresult(CUevent), "cuEventSynchronize")               \
  X(cuEventElapsedTime, CUresult(float *, CUevent, CUevent),                   \
    "cuEventElapsedTime")                                                      \
  X(cuMemAlloc, CUresult(CUdeviceptr *, size_t), "cuMemAlloc_v2",              \
    "cuMemAlloc")                                                              \
  X(cuMemFree, CUresult(CUdeviceptr), "cuMemFree_v2", "cuMemFree")             \
  X(cuMemAllocManaged, CUresult(CUdeviceptr *, size_t, unsigned),              \
    "cuMemAllocManaged")                                                       \
  X(cuMemAllocAsync, CUresult(CUdeviceptr *, size_t, CUstream),                \
    "cuMemAllocAsync")                                                         \
  X(cuMemFreeAsync, CUresult(CUdeviceptr, CUstream), "cuMemFreeAsync")         \
  X(cuMemcpyAsync, CUresult(CUdeviceptr, CUdeviceptr, size_t, CUstream),       \
    "cuMemcpyAsync")                                                           \
  X(cuMemcpyHtoD, CUresult(CUdeviceptr, const void *, size_t),                 \
    "cuMemcpyHtoD_v2", "cuMemcpyHtoD")                                         \
  X(cuMemcpyDtoH, CUresult(void *, CUdeviceptr, size_t), "cuMemcpyDtoH_v2",    \
    "cuMemcpyDtoH")                                                            \
  X(cuMemsetD32Async, CUresult(CUdeviceptr, unsigned, size_t, CUstream),       \
    "cuMemsetD32Async")                                                        \
  X(cuMemsetD16Async, CUresult(CUdeviceptr, unsigned short, size_t, CUstream), \
    "cuMemsetD16Async")                                                        \
  X(cuMemHostRegister, CUresult(void *, size_t, unsigned),                     \
    "cuMemHostRegister_v2", "cuMemHostRegister")                               \
  X(cuMemHostUnregister, CUresult(void *), "cuMemHostUnregister")              \
  X(cuTensorMapEncodeTiled,                                                    \
    CUresult(CUtensorMap *, int, uint32_t, void *, const uint64_t *,           \
             const uint64_t *, const uint32_t *, const uint32_t *, int, int,   \
             int, int),                                                        \
    "cuTensorMapEncodeTiled")

/// Driver entry points; optional ones are null when the driver lacks them.
struct Driver {
#define MHMOE_CUDA_DECLARE(member, signature, ...)                             \
  using member##_fn = signature;                                               \
  member##_fn *member = nullptr;
  MHMOE_CUDA_REQUIRED_FUNCTIONS(MHMOE_CUDA_DECLARE)
  MHMOE_CUDA_OPTIONAL_FUNCTIONS(MHMOE_CUDA_DECLARE)
#undef MHMOE_CUDA_DECLARE
};

/// The device whose primary context is current after a successful enter().
struct Device {
  int ordinal = 0;
  CUdevice handle = 0;
  CUcontext context = nullptr;
  /// Whether mgpuMemAlloc uses the stream-ordered allocator.
  bool asyncAlloc = false;
};

/// Initialises the runtime on first use, then makes the selected device's
/// primary context current on the calling thread. Returns the driver table,
/// or null after recording an error (cheap once the driver is known missing).
const Driver *enter(const Device **device = nullptr);

/// Selects the device that later calls use (mgpuSetDefaultDevice).
void setDefaultDevice(int ordinal);

/// Records a printf-style message unless an error is already recorded.
void recordError(const char *format, ...) __attribute__((format(printf, 1, 2)));

/// Returns true if result is CUDA_SUCCESS; otherwise records
/// "<what> failed: <name>: <description> (<code>)" and returns false.
bool check(CUresult result, const char *whatFormat, ...)
    __attribute__((format(printf, 2, 3)));

/// Writes "<name>: <description> (<code>)" for a driver result into buf.
void describe(CUresult result, char *buf, size_t size);

/// Records that the driver lacks `name`; returns false.
bool reportMissing(const char *name);

/// Returns true if fn is resolved; otherwise records that the driver lacks
/// `name` and returns false.
template <typename Fn> bool require(Fn *fn, const char *name) {
  return fn ? true : reportMissing(name);
}

const char *firstError();
void clearError();

} // namespace mhmoe::cuda

#endif // MHMOE_LIB_RUNTIME_CUDA_CUDADRIVERAPI_H
