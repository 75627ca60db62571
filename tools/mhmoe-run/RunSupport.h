//===- RunSupport.h - mhmoe-run's failures, progress and reports --*- C++ -*-===//
//
// What mhmoe-run reports and how: failures with their exit codes, the notice
// of a slow step, the summary of a run and the --bench timings.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_TOOLS_MHMOE_RUN_RUNSUPPORT_H
#define MHMOE_TOOLS_MHMOE_RUN_RUNSUPPORT_H

#include "RunStats.h"
#include "mhmoe/Runtime/mhmoe_runtime.h"
#include "mhmoe/Support/ModelConfig.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace mhmoe {

constexpr int kExitRuntime = 1;
constexpr int kExitBadInput = 2;

/// An error with the exit code it maps to.
struct Failure {
  int code;
  std::string message;
};

/// Prints "mhmoe-run: error: <message>" and returns the code.
int report(const Failure &f);
Failure badInput(const llvm::Twine &msg);
Failure runtimeFailure(const llvm::Twine &msg);
/// The runtime's last error (prefixed with `context`), bad input or runtime.
Failure fromStatus(mhmoe_status s, const llvm::Twine &context = "");

/// While alive, a slow step announces itself on stderr: once after a
/// second ("loading ..."), and when it ends ("... in 3.2 s"). Quick steps
/// print nothing.
class SlowStepNotice {
public:
  explicit SlowStepNotice(std::string what);
  ~SlowStepNotice();

private:
  std::string what;
  std::chrono::steady_clock::time_point start;
  std::mutex mutex;
  std::condition_variable done;
  bool finished = false, announced = false;
  std::thread watcher;
};

double millisecondsSince(std::chrono::steady_clock::time_point t0);

/// The output's moments and each layer's active experts.
void printSummary(llvm::raw_ostream &os, const ModelConfig &config,
                  llvm::ArrayRef<int64_t> shape, int64_t tokens,
                  llvm::ArrayRef<float> output, llvm::ArrayRef<LayerStats> stats);

/// --bench K: K more runs, median and min latency (and device time on CUDA).
std::optional<Failure> benchmark(llvm::raw_ostream &os, mhmoe_model *m, int runs,
                                 const float *input, int64_t tokens,
                                 float *output, int64_t *load,
                                 std::optional<double> &medianMs);

} // namespace mhmoe

#endif
