//===- ModelState.h - what a loaded model holds ----------------*- C++ -*-===//
//
// The state behind the C API's opaque mhmoe_model, shared by Runtime.cpp
// (load, run) and WeightBinding.cpp (weights and their packed copies).
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_RUNTIME_MODELSTATE_H
#define MHMOE_LIB_RUNTIME_MODELSTATE_H

#include "mhmoe/Runtime/mhmoe_runtime.h"

#include "CudaModel.h"

#include "mhmoe/Support/Manifest.h"
#include "mhmoe/Support/SafeTensors.h"
#include "mhmoe/Support/Status.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mhmoe::runtime {

using ManifestFn = const char *(*)();
using PackFn = int32_t (*)(void **);
using ForwardFn = int32_t (*)(void **, int64_t);
using OmpSetNumThreadsFn = void (*)(int);
using OmpGetMaxThreadsFn = int (*)();
using SetAllocatorFn = void (*)(void *, void *, void *);
using SetCommunicatorFn = void (*)(void *, void *, void *);

/// CPU models alive; the workspace cache's idle blocks go back to the system
/// when the last one is freed.
extern std::atomic<int> liveCPUModels;

struct MallocDeleter {
  void operator()(void *p) const { std::free(p); }
};

/// Records `msg` as this thread's mhmoe_last_error() and returns `status`.
mhmoe_status fail(mhmoe_status status, std::string msg);
mhmoe_status fail(mhmoe_status status, const Status &error);

} // namespace mhmoe::runtime

struct mhmoe_model {
  using ForwardFn = mhmoe::runtime::ForwardFn;
  using PackFn = mhmoe::runtime::PackFn;
  using OmpSetNumThreadsFn = mhmoe::runtime::OmpSetNumThreadsFn;
  using OmpGetMaxThreadsFn = mhmoe::runtime::OmpGetMaxThreadsFn;
  using MallocDeleter = mhmoe::runtime::MallocDeleter;
  using Manifest = mhmoe::Manifest;
  using SafeTensorsFile = mhmoe::SafeTensorsFile;
  using CudaModel = mhmoe::CudaModel;

  void *handle = nullptr;
  ForwardFn forward = nullptr;
  PackFn pack = nullptr;
  OmpSetNumThreadsFn ompSetNumThreads = nullptr;
  OmpGetMaxThreadsFn ompGetMaxThreads = nullptr;
  /// Threads per run (mhmoe_model_set_num_threads); 0 = the OpenMP default.
  std::atomic<int32_t> numThreads{0};
  Manifest manifest;
  double packMs = 0; // time of mhmoe_pack at load
  std::unique_ptr<SafeTensorsFile> weights;
  std::vector<std::unique_ptr<void, MallocDeleter>> owned;
  /// One pointer per manifest input then output; weight slots are filled at
  /// load time, the others per run.
  std::vector<void *> argvTemplate;
  size_t inputSlot = 0, outputSlot = 0;
  /// (argv slot, offset in the run's [2, L, E] counts) of each expert_load
  /// (offset l * E) and expert_dropped (offset (L + l) * E) output.
  std::vector<std::pair<size_t, int64_t>> countSlots;
  /// Set for "target": "cuda" libraries: device weights and run buffers.
  std::unique_ptr<CudaModel> cuda;

  bool usesWorkspaceCache = false;
  /// An expert-parallel library's communicator was installed.
  bool hasCommunicator = false;

  ~mhmoe_model();
};

namespace mhmoe::runtime {

/// Binds the weights of `m.weights` (the model directory's file `stPath`) to
/// the manifest's inputs, each converted to its manifest dtype, allocates
/// the packed weights and fills them through the library's mhmoe_pack, then
/// frees what only the packing read; records the output slots.
mhmoe_status bindWeights(mhmoe_model &m, const std::string &stPath);

/// For an expert-parallel library, the bytes of each stored tensor this rank
/// binds: its rows of the expert tensors with an `expert_slice`, all of the
/// others; empty (read everything) otherwise.
SafeTensorsFile::NeededBytes neededWeightBytes(const Manifest &manifest);

} // namespace mhmoe::runtime

#endif // MHMOE_LIB_RUNTIME_MODELSTATE_H
