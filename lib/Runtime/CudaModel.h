//===- CudaModel.h - Device state of a CUDA compiled model ------*- C++ -*-===//
//
// The runtime's CUDA path (docs/compiled-library-abi.md, "target": "cuda"):
// every argv pointer of such a library is a device pointer. CudaModel resolves
// the mhmoe_cuda_* API (include/mhmoe/Runtime/mhmoe_cuda.h) with dlsym from
// the model library's handle -- the library links libMHMoECudaRuntime, the
// runtime does not -- and owns the device weights, the per-run device buffers
// (grown on demand, reused across runs) and the timing events.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_RUNTIME_CUDAMODEL_H
#define MHMOE_LIB_RUNTIME_CUDAMODEL_H

#include "mhmoe/Runtime/mhmoe_runtime.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace mhmoe {

/// The mhmoe_cuda_* functions, resolved from a model library's handle.
struct CudaApi {
  int (*available)(void) = nullptr;
  const char *(*error)(void) = nullptr;
  void (*clearError)(void) = nullptr;
  int64_t (*deviceMemory)(void) = nullptr;
  void *(*malloc)(uint64_t) = nullptr;
  void (*free)(void *) = nullptr;
  int (*upload)(void *, const void *, uint64_t) = nullptr;
  int (*download)(void *, const void *, uint64_t) = nullptr;
  void *(*eventCreate)(void) = nullptr;
  int (*eventRecord)(void *) = nullptr;
  float (*eventElapsedMs)(void *, void *) = nullptr;
  void (*eventDestroy)(void *) = nullptr;
};

/// What a run needs from the model: the argv template (device weights
/// filled in) and where the per-run buffers go.
struct CudaRunLayout {
  const std::vector<void *> *argvTemplate = nullptr;
  size_t inputSlot = 0, outputSlot = 0;
  /// (argv slot, offset in the [2, L, E] counts) of each expert_load
  /// (offset l * E) and expert_dropped (offset (L + l) * E) output.
  const std::vector<std::pair<size_t, int64_t>> *countSlots = nullptr;
  int64_t hiddenSize = 0, numLayers = 0, numExperts = 0;
  int32_t (*forward)(void **, int64_t) = nullptr;
};

class CudaModel {
public:
  /// Resolves the CUDA API from `handle` and checks that a device is usable.
  /// On failure returns null with `status` and `error` set.
  static std::unique_ptr<CudaModel> create(void *handle, mhmoe_status &status,
                                           std::string &error);
  ~CudaModel();
  CudaModel(const CudaModel &) = delete;
  CudaModel &operator=(const CudaModel &) = delete;

  /// Copies `bytes` of host data to a new device buffer owned by this model
  /// (freed in the destructor). Zero bytes give a null pointer. On failure
  /// returns false with the CUDA error in `error`.
  bool uploadWeight(const void *host, uint64_t bytes, void *&device,
                    std::string &error);
  uint64_t weightBytes() const { return weightBytes_; }
  /// Total device memory in bytes (0 if unknown), queried once at create.
  int64_t deviceMemory() const { return deviceMemory_; }

  /// Uploads `input`, runs forward on device buffers, downloads `output` and
  /// the [2, L, E] routing counts (load, then dropped) into `counts`. Runs of
  /// one model are serialised.
  mhmoe_status run(const CudaRunLayout &layout, const float *input,
                   int64_t numTokens, float *output, int64_t *counts,
                   std::string &error);

  /// Device milliseconds of the last successful run's forward call, or -1.
  double lastRunDeviceMs() const {
    return lastMs.load(std::memory_order_relaxed);
  }

private:
  explicit CudaModel(const CudaApi &api) : api(api) {}
  /// The recorded CUDA error (or `fallback`), prefixed by `what`; clears it.
  std::string takeError(const std::string &what, const char *fallback);
  bool growBuffers(int64_t numTokens, const CudaRunLayout &layout,
                   std::string &error);

  CudaApi api;
  std::vector<void *> weights;
  uint64_t weightBytes_ = 0;
  int64_t deviceMemory_ = 0;

  std::mutex runMutex;
  // Cached per-run buffers: input and output hold `capacityTokens` tokens.
  void *deviceInput = nullptr, *deviceOutput = nullptr, *deviceLoad = nullptr;
  int64_t capacityTokens = 0;
  void *startEvent = nullptr, *stopEvent = nullptr;
  std::atomic<double> lastMs{-1.0};
};

} // namespace mhmoe

#endif // MHMOE_LIB_RUNTIME_CUDAMODEL_H
