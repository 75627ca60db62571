//===- CudaDriverApi.cpp - CUDA driver API resolved with dlopen -----------===//
//
// Loads the CUDA driver once, lazily and thread-safely; keeps the selected
// device's primary context and the sticky first error. Nothing here aborts,
// exits or prints.
//
//===----------------------------------------------------------------------===//
#include "CudaDriverApi.h"

#include <dlfcn.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <mutex>

namespace mhmoe::cuda {
namespace {

constexpr int kMaxDevices = 64;
enum : int { kPending = 0, kReady = 1, kFailed = 2 };

struct DeviceSlot {
  std::atomic<int> status{kPending};
  Device device;
  char error[384] = {};
};

struct State {
  std::mutex initMutex;
  std::atomic<int> status{kPending};
  Driver driver;
  char libraryName[256] = {};
  char initError[768] = {};
  int deviceCount = 0;
  int defaultDevice = 0;                // MHMOE_CUDA_DEVICE, else 0.
  std::atomic<int> requestedDevice{-1}; // mgpuSetDefaultDevice, if called.
  std::mutex deviceMutex;
  DeviceSlot devices[kMaxDevices];

  std::mutex errorMutex;
  std::atomic<bool> hasError{false};
  char error[1024] = {};
};

// Never destroyed: compiled model libraries call mgpuModuleUnload from their
// global destructors, which may run after this library's.
State &state() {
  static State *s = new State();
  return *s;
}

void recordErrorV(const char *format, va_list args) {
  State &s = state();
  if (s.hasError.load(std::memory_order_acquire))
    return;
  std::lock_guard<std::mutex> lock(s.errorMutex);
  if (s.hasError.load(std::memory_order_relaxed))
    return;
  vsnprintf(s.error, sizeof(s.error), format, args);
  s.hasError.store(true, std::memory_order_release);
}

// Sets the init error (repeated by every later call) and records it.
__attribute__((format(printf, 2, 3))) void failInit(State &s,
                                                    const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(s.initError, sizeof(s.initError), format, args);
  va_end(args);
  recordError("%s", s.initError);
  s.status.store(kFailed, std::memory_order_release);
}

template <typename Fn>
void resolve(void *library, Fn *&fn,
             std::initializer_list<const char *> names) {
  for (const char *name : names) {
    if (void *symbol = dlsym(library, name)) {
      fn = reinterpret_cast<Fn *>(symbol);
      return;
    }
  }
}

bool parseOrdinal(const char *text, int &out) {
  char *end = nullptr;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < 0 ||
      value >= kMaxDevices)
    return false;
  out = static_cast<int>(value);
  return true;
}

void initialize(State &s) {
  std::lock_guard<std::mutex> lock(s.initMutex);
  if (s.status.load(std::memory_order_acquire) != kPending)
    return;

  const char *override = getenv("MHMOE_CUDA_DRIVER_LIBRARY");
  snprintf(s.libraryName, sizeof(s.libraryName), "%s",
           override && *override ? override : "libcuda.so.1");
  dlerror();
  void *library = dlopen(s.libraryName, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char *why = dlerror();
    return failInit(s, "no CUDA driver: %s could not be loaded (%s)",
                    s.libraryName, why ? why : "unknown error");
  }

  Driver &d = s.driver;
#define MHMOE_CUDA_RESOLVE(member, signature, ...)                             \
  resolve(library, d.member, {__VA_ARGS__});
  MHMOE_CUDA_REQUIRED_FUNCTIONS(MHMOE_CUDA_RESOLVE)
  MHMOE_CUDA_OPTIONAL_FUNCTIONS(MHMOE_CUDA_RESOLVE)
#undef MHMOE_CUDA_RESOLVE
#define MHMOE_CUDA_CHECK_REQUIRED(member, signature, ...)                      \
  if (!d.member) {                                                             \
    d = Driver();                                                              \
    dlclose(library);                                                          \
    return failInit(s, "no CUDA driver: %s lacks %s", s.libraryName, #member); \
  }
  MHMOE_CUDA_REQUIRED_FUNCTIONS(MHMOE_CUDA_CHECK_REQUIRED)
#undef MHMOE_CUDA_CHECK_REQUIRED

  char description[256];
  CUresult result = d.cuInit(0);
  if (result != CUDA_SUCCESS) {
    describe(result, description, sizeof(description));
    return failInit(s, "cuInit failed: %s", description);
  }
  int count = 0;
  result = d.cuDeviceGetCount(&count);
  if (result != CUDA_SUCCESS) {
    describe(result, description, sizeof(description));
    return failInit(s, "cuDeviceGetCount failed: %s", description);
  }
  if (count <= 0)
    return failInit(s, "no CUDA device: the driver reports 0 devices");
  s.deviceCount = count < kMaxDevices ? count : kMaxDevices;

  const char *device = getenv("MHMOE_CUDA_DEVICE");
  if (device && *device &&
      (!parseOrdinal(device, s.defaultDevice) ||
       s.defaultDevice >= s.deviceCount))
    return failInit(s,
                    "MHMOE_CUDA_DEVICE=%s is not a device ordinal (the driver "
                    "reports %d device(s))",
                    device, count);
  s.status.store(kReady, std::memory_order_release);
}

__attribute__((format(printf, 2, 3))) void failDevice(DeviceSlot &slot,
                                                      const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(slot.error, sizeof(slot.error), format, args);
  va_end(args);
  recordError("%s", slot.error);
  slot.status.store(kFailed, std::memory_order_release);
}

// Retains the device's primary context and sets up its default memory pool.
void setUpDevice(State &s, DeviceSlot &slot, int ordinal) {
  const Driver &d = s.driver;
  Device &device = slot.device;
  device.ordinal = ordinal;
  char description[256];
  CUresult result = d.cuDeviceGet(&device.handle, ordinal);
  if (result != CUDA_SUCCESS) {
    describe(result, description, sizeof(description));
    return failDevice(slot, "cuDeviceGet(%d) failed: %s", ordinal, description);
  }
  result = d.cuDevicePrimaryCtxRetain(&device.context, device.handle);
  if (result == CUDA_SUCCESS)
    result = d.cuCtxSetCurrent(device.context);
  if (result != CUDA_SUCCESS) {
    describe(result, description, sizeof(description));
    return failDevice(slot, "cuDevicePrimaryCtxRetain(device %d) failed: %s",
                      ordinal, description);
  }

  // Stream-ordered allocation from the device's default pool, which keeps
  // freed memory for reuse (release threshold raised from 0 to "never").
  const char *async = getenv("MHMOE_CUDA_ASYNC_ALLOC");
  device.asyncAlloc = d.cuMemAllocAsync && d.cuMemFreeAsync &&
                      !(async && strcmp(async, "0") == 0);
  int supported = 0;
  if (device.asyncAlloc && d.cuDeviceGetAttribute &&
      (d.cuDeviceGetAttribute(&supported,
                              CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED,
                              device.handle) != CUDA_SUCCESS ||
       !supported))
    device.asyncAlloc = false;
  CUmemoryPool pool = nullptr;
  if (device.asyncAlloc && d.cuDeviceGetDefaultMemPool &&
      d.cuMemPoolSetAttribute &&
      d.cuDeviceGetDefaultMemPool(&pool, device.handle) == CUDA_SUCCESS) {
    uint64_t threshold = UINT64_MAX;
    (void)d.cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                                  &threshold);
  }
  slot.status.store(kReady, std::memory_order_release);
}

const Device *deviceFor(State &s, int ordinal) {
  if (ordinal < 0 || ordinal >= s.deviceCount) {
    recordError("CUDA device %d does not exist (the driver reports %d "
                "device(s))",
                ordinal, s.deviceCount);
    return nullptr;
  }
  DeviceSlot &slot = s.devices[ordinal];
  int status = slot.status.load(std::memory_order_acquire);
  if (status == kPending) {
    std::lock_guard<std::mutex> lock(s.deviceMutex);
    if (slot.status.load(std::memory_order_acquire) == kPending)
      setUpDevice(s, slot, ordinal);
    status = slot.status.load(std::memory_order_acquire);
  }
  if (status != kReady) {
    recordError("%s", slot.error);
    return nullptr;
  }
  return &slot.device;
}

} // namespace

const Driver *enter(const Device **device) {
  State &s = state();
  int status = s.status.load(std::memory_order_acquire);
  if (status == kPending) {
    initialize(s);
    status = s.status.load(std::memory_order_acquire);
  }
  if (status != kReady) {
    recordError("%s", s.initError);
    return nullptr;
  }
  int ordinal = s.requestedDevice.load(std::memory_order_relaxed);
  if (ordinal < 0)
    ordinal = s.defaultDevice;
  const Device *selected = deviceFor(s, ordinal);
  if (!selected || !check(s.driver.cuCtxSetCurrent(selected->context),
                          "cuCtxSetCurrent(device %d)", ordinal))
    return nullptr;
  if (device)
    *device = selected;
  return &s.driver;
}

void setDefaultDevice(int ordinal) {
  if (ordinal < 0) {
    recordError("mgpuSetDefaultDevice(%d): not a device ordinal", ordinal);
    return;
  }
  state().requestedDevice.store(ordinal, std::memory_order_relaxed);
}

void recordError(const char *format, ...) {
  va_list args;
  va_start(args, format);
  recordErrorV(format, args);
  va_end(args);
}

void describe(CUresult result, char *buf, size_t size) {
  const Driver &d = state().driver;
  const char *name = nullptr;
  const char *text = nullptr;
  if (d.cuGetErrorName && d.cuGetErrorName(result, &name) != CUDA_SUCCESS)
    name = nullptr;
  if (d.cuGetErrorString && d.cuGetErrorString(result, &text) != CUDA_SUCCESS)
    text = nullptr;
  if (name && text)
    snprintf(buf, size, "%s: %s (%d)", name, text, result);
  else if (name)
    snprintf(buf, size, "%s (%d)", name, result);
  else
    snprintf(buf, size, "CUDA error %d", result);
}

bool check(CUresult result, const char *whatFormat, ...) {
  if (result == CUDA_SUCCESS)
    return true;
  if (state().hasError.load(std::memory_order_acquire))
    return false;
  char what[384];
  va_list args;
  va_start(args, whatFormat);
  vsnprintf(what, sizeof(what), whatFormat, args);
  va_end(args);
  char description[256];
  describe(result, description, sizeof(description));
  recordError("%s failed: %s", what, description);
  return false;
}

bool reportMissing(const char *name) {
  recordError("the CUDA driver %s lacks %s", state().libraryName, name);
  return false;
}

const char *firstError() {
  State &s = state();
  return s.hasError.load(std::memory_order_acquire) ? s.error : "";
}

void clearError() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.errorMutex);
  s.hasError.store(false, std::memory_order_release);
}

} // namespace mhmoe::cuda
