//===- CudaModel.cpp - Device state of a CUDA compiled model --------------===//
//
// See CudaModel.h. Nothing here links libMHMoECudaRuntime or libcuda: the
// functions come from dlsym on the model library, which links the former.
//
//===----------------------------------------------------------------------===//
#include "CudaModel.h"

#include <dlfcn.h>

#include <cstring>

using namespace mhmoe;

namespace {

template <typename Fn> bool resolve(void *handle, const char *name, Fn &out) {
  out = reinterpret_cast<Fn>(dlsym(handle, name));
  return out != nullptr;
}

} // namespace

std::unique_ptr<CudaModel> CudaModel::create(void *handle, mhmoe_status &status,
                                             std::string &error) {
  CudaApi a;
  const char *missing = nullptr;
#define MHMOE_RESOLVE(member, name)                                            \
  if (!missing && !resolve(handle, name, a.member))                            \
    missing = name;
  MHMOE_RESOLVE(available, "mhmoe_cuda_available")
  MHMOE_RESOLVE(error, "mhmoe_cuda_error")
  MHMOE_RESOLVE(clearError, "mhmoe_cuda_clear_error")
  MHMOE_RESOLVE(deviceMemory, "mhmoe_cuda_device_memory")
  MHMOE_RESOLVE(malloc, "mhmoe_cuda_malloc")
  MHMOE_RESOLVE(free, "mhmoe_cuda_free")
  MHMOE_RESOLVE(upload, "mhmoe_cuda_upload")
  MHMOE_RESOLVE(download, "mhmoe_cuda_download")
  MHMOE_RESOLVE(eventCreate, "mhmoe_cuda_event_create")
  MHMOE_RESOLVE(eventRecord, "mhmoe_cuda_event_record")
  MHMOE_RESOLVE(eventElapsedMs, "mhmoe_cuda_event_elapsed_ms")
  MHMOE_RESOLVE(eventDestroy, "mhmoe_cuda_event_destroy")
#undef MHMOE_RESOLVE
  status = MHMOE_ERROR_RUNTIME;
  if (missing) {
    error = std::string("compiled library targets CUDA but does not link the "
                        "mhmoe CUDA runtime (missing ") +
            missing + ")";
    return nullptr;
  }
  std::unique_ptr<CudaModel> m(new CudaModel(a));
  if (!a.available()) {
    error = m->takeError("cannot run a CUDA model", "CUDA is unavailable");
    return nullptr;
  }
  // The library's global constructor loaded its kernels at dlopen time; a
  // failure there (e.g. no kernel image for this GPU) is only recorded.
  const char *pending = a.error();
  if (pending && *pending) {
    error = m->takeError("cannot run a CUDA model", "");
    return nullptr;
  }
  m->deviceMemory_ = a.deviceMemory();
  if (m->deviceMemory_ <= 0) {
    m->deviceMemory_ = 0; // unknown: the run-time memory check is skipped
    a.clearError();
  }
  status = MHMOE_OK;
  return m;
}

CudaModel::~CudaModel() {
  api.free(deviceInput);
  api.free(deviceOutput);
  api.free(deviceLoad);
  for (void *w : weights)
    api.free(w);
  api.eventDestroy(startEvent);
  api.eventDestroy(stopEvent);
}

std::string CudaModel::takeError(const std::string &what,
                                 const char *fallback) {
  const char *e = api.error();
  std::string msg = what + ": " + (e && *e ? e : fallback);
  api.clearError();
  return msg;
}

bool CudaModel::uploadWeight(const void *host, uint64_t bytes, void *&device,
                             std::string &error) {
  device = nullptr;
  if (bytes == 0)
    return true;
  void *d = api.malloc(bytes);
  if (!d) {
    error = takeError("cannot allocate " + std::to_string(bytes) +
                          " bytes of device memory",
                      "mhmoe_cuda_malloc failed");
    return false;
  }
  weights.push_back(d);
  weightBytes_ += bytes;
  if (api.upload(d, host, bytes) != 0) {
    error =
        takeError("cannot upload to the device", "mhmoe_cuda_upload failed");
    return false;
  }
  device = d;
  return true;
}

bool CudaModel::growBuffers(int64_t numTokens, const CudaRunLayout &layout,
                            std::string &error) {
  if (!deviceLoad && layout.numLayers * layout.numExperts > 0) {
    uint64_t bytes =
        uint64_t(2 * layout.numLayers * layout.numExperts) * sizeof(int64_t);
    deviceLoad = api.malloc(bytes);
    if (!deviceLoad) {
      error = takeError("mhmoe_model_run: cannot allocate " +
                            std::to_string(bytes) + " bytes of device memory",
                        "mhmoe_cuda_malloc failed");
      return false;
    }
  }
  if (!startEvent)
    startEvent = api.eventCreate();
  if (!stopEvent)
    stopEvent = api.eventCreate();
  if (!startEvent || !stopEvent) {
    error = takeError("mhmoe_model_run: cannot create CUDA events",
                      "mhmoe_cuda_event_create failed");
    return false;
  }
  if (numTokens <= capacityTokens)
    return true;
  api.free(deviceInput);
  api.free(deviceOutput);
  deviceInput = deviceOutput = nullptr;
  capacityTokens = 0;
  const uint64_t bytes =
      uint64_t(numTokens) * uint64_t(layout.hiddenSize) * sizeof(float);
  deviceInput = api.malloc(bytes);
  deviceOutput = deviceInput ? api.malloc(bytes) : nullptr;
  if (!deviceInput || !deviceOutput) {
    error =
        takeError("mhmoe_model_run: cannot allocate 2 x " +
                      std::to_string(bytes) + " bytes of device memory for " +
                      std::to_string(numTokens) + " tokens",
                  "mhmoe_cuda_malloc failed");
    return false;
  }
  capacityTokens = numTokens;
  return true;
}

mhmoe_status CudaModel::run(const CudaRunLayout &layout, const float *input,
                            int64_t numTokens, float *output,
                            int64_t *counts, std::string &error) {
  std::lock_guard<std::mutex> lock(runMutex);
  if (!growBuffers(numTokens, layout, error))
    return MHMOE_ERROR_RUNTIME;
  const uint64_t ioBytes =
      uint64_t(numTokens) * uint64_t(layout.hiddenSize) * sizeof(float);
  const size_t countBytes =
      size_t(2 * layout.numLayers * layout.numExperts) * sizeof(int64_t);
  // As on the CPU, the routing counts are zeroed before each forward call.
  std::vector<int64_t> zeros(countBytes / sizeof(int64_t), 0);
  if (api.upload(deviceInput, input, ioBytes) != 0 ||
      api.upload(deviceLoad, zeros.data(), countBytes) != 0) {
    error = takeError("mhmoe_model_run: cannot upload the input",
                      "mhmoe_cuda_upload failed");
    return MHMOE_ERROR_RUNTIME;
  }

  std::vector<void *> argv = *layout.argvTemplate;
  argv[layout.inputSlot] = deviceInput;
  argv[layout.outputSlot] = deviceOutput;
  for (const auto &slot : *layout.countSlots)
    argv[slot.first] = static_cast<int64_t *>(deviceLoad) + slot.second;

  if (api.eventRecord(startEvent) != 0) {
    error = takeError("mhmoe_model_run", "mhmoe_cuda_event_record failed");
    return MHMOE_ERROR_RUNTIME;
  }
  int32_t rc = layout.forward(argv.data(), numTokens);
  if (rc != 0) {
    const char *e = api.error();
    error = "compiled model forward failed with code " + std::to_string(rc);
    if (e && *e)
      error += std::string(" (CUDA error: ") + e + ")";
    api.clearError();
    return MHMOE_ERROR_RUNTIME;
  }
  const int recorded = api.eventRecord(stopEvent);
  const char *e = api.error();
  if (e && *e) {
    // Kernel launch and execution failures are recorded, not returned.
    error = takeError("compiled model forward failed on the CUDA device", "");
    return MHMOE_ERROR_RUNTIME;
  }
  const float ms =
      recorded == 0 ? api.eventElapsedMs(startEvent, stopEvent) : -1.0f;
  if (ms < 0) {
    error = takeError("mhmoe_model_run: cannot time the forward call",
                      "mhmoe_cuda_event_elapsed_ms failed");
    return MHMOE_ERROR_RUNTIME;
  }

  if (api.download(output, deviceOutput, ioBytes) != 0 ||
      api.download(counts, deviceLoad, countBytes) != 0) {
    error = takeError("mhmoe_model_run: cannot download the output",
                      "mhmoe_cuda_download failed");
    return MHMOE_ERROR_RUNTIME;
  }
  lastMs.store(double(ms), std::memory_order_relaxed);
  return MHMOE_OK;
}
