//===- ExpertParallel.h - mhmoe-run --expert-parallel -------------*- C++ -*-===//
//
// One rank of an expert-parallel run under mpirun: libMHMoEMPI loaded (the
// only MPI code, dlopen'd so the one-process path needs none), the rank's
// slice of the tokens, agreement on failures before any collective can
// hang, the output gathered on rank 0, the counts summed, and each rank's
// exchange statistics. With --device cuda the rows travel through
// libMHMoENCCL instead (device memory), the rest still through MPI. See
// docs/distributed.md.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_TOOLS_MHMOE_RUN_EXPERTPARALLEL_H
#define MHMOE_TOOLS_MHMOE_RUN_EXPERTPARALLEL_H

#include "RunSupport.h"
#include "mhmoe/Runtime/mhmoe_mpi.h"
#include "mhmoe/Runtime/mhmoe_nccl.h"
#include "mhmoe/Runtime/mhmoe_runtime.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mhmoe {

class ExpertParallelRun {
public:
  /// Loads <tool dir>/../lib/libMHMoEMPI.so and initialises MPI.
  static llvm::Expected<std::unique_ptr<ExpertParallelRun>>
  open(const char *argv0);
  ~ExpertParallelRun();

  int rank() const { return mpi->rank; }
  int ranks() const { return mpi->size; }
  bool isRoot() const { return mpi->rank == 0; }

  /// This rank's tokens of `tokens`: [first, first + count), contiguous, in
  /// rank order.
  void tokenRange(int64_t tokens, int64_t &first, int64_t &count) const;

  /// Collective: every rank passes its own outcome; all get the failure of
  /// the lowest failing rank (its message prefixed with the rank when it is
  /// not rank 0's), or nothing when all succeeded.
  std::optional<Failure> agree(const std::optional<Failure> &mine);

  /// A failure this rank cannot share (the others may be inside an
  /// exchange): ends every rank with `code` after printing `message`.
  [[noreturn]] void abortAll(const Failure &failure);

  /// For --device cuda, before the model is loaded: this rank's GPU,
  /// $MHMOE_CUDA_DEVICE or else its rank on its host (one GPU per rank),
  /// exported as $MHMOE_CUDA_DEVICE for the CUDA runtime.
  static int32_t pinDevice();

  /// Collective, for --device cuda: loads <tool dir>/../lib/libMHMoENCCL.so
  /// and starts NCCL on this rank's device (all ranks or none).
  llvm::Error startDeviceCommunicator(const char *argv0);

  /// The NCCL communicator when started, the MPI one otherwise.
  mhmoe_status installCommunicator(mhmoe_model *m);

  /// Collective: rank 0 receives every rank's output rows, in rank order.
  bool gatherOutput(const float *local, int64_t rows, int64_t width,
                    float *all);
  /// Collective: element-wise sums over the ranks, in place.
  bool sumCounts(std::vector<int64_t> &counts);

  void resetExchangeStats();
  /// Collective: `"expert_parallel"` of the stats JSON on rank 0 (each
  /// rank's rows and bytes sent and received, and seconds, per layer and
  /// direction), built from the exchanges since the last reset; "" elsewhere.
  std::string exchangeStatsJSON(int64_t numLayers, int64_t localTokens);

private:
  explicit ExpertParallelRun(void *handle, const mhmoe_mpi *mpi)
      : handle(handle), mpi(mpi) {}
  /// The exchange_rows calls since the last reset, of the communicator in
  /// use.
  int64_t numExchanges() const;
  const mhmoe_mpi_exchange *exchange(int64_t i) const;

  void *handle;
  const mhmoe_mpi *mpi;
  const mhmoe_nccl *nccl = nullptr;
};

} // namespace mhmoe

#endif
