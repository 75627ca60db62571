//===- RunStats.h - mhmoe-run --stats and --stats-png -----------*- C++ -*-===//
//
// What a run did (docs/stats.md): per layer the expert load the generated
// code counted, the drops, the active experts and the load imbalance; and
// where the time went (compile, load, pack, first run, steady run).
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_TOOLS_MHMOE_RUN_RUNSTATS_H
#define MHMOE_TOOLS_MHMOE_RUN_RUNSTATS_H

#include "mhmoe/Support/ModelConfig.h"
#include "mhmoe/ToolSupport/OutputFiles.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mhmoe {

struct LayerStats {
  int64_t subTokens = 0, dropped = 0, activeExperts = 0;
  double activationRatio = 0;
  /// Largest expert load over the mean load (1.0 = perfectly balanced; 0
  /// when nothing was routed).
  double loadImbalance = 0;
  std::vector<int64_t> load, droppedPerExpert;
};

/// Milliseconds; a phase that did not happen is absent.
struct RunTimings {
  std::optional<double> compileMs; // only when this run compiled the model
  double loadMs = 0;               // mhmoe_model_load, packing included
  double packMs = 0;               // mhmoe_pack inside the load
  double firstRunMs = 0;
  std::optional<double> steadyRunMs; // median of --bench K runs
  /// Resident memory right before and after the load (the difference is the
  /// model: weights and packed copies), and the process's peak (VmHWM) once
  /// the runs are done; 0 = not known.
  uint64_t residentBeforeLoadBytes = 0;
  uint64_t residentAfterLoadBytes = 0;
  uint64_t peakResidentBytes = 0;
};

/// This process's resident set (`/proc/self/statm`) and its peak (VmHWM in
/// `/proc/self/status`) in bytes; 0 where they cannot be read.
uint64_t residentBytes();
uint64_t peakResidentBytes();

/// The per-layer statistics of the kept and dropped (sub-token, choice)
/// pairs per expert (`load`, `dropped`: [num_layers * num_experts]).
std::vector<LayerStats> makeStats(const ModelConfig &config, int64_t tokens,
                                  const std::vector<int64_t> &load,
                                  const std::vector<int64_t> &dropped);

/// {"layers": [...], "timings_ms": {...}}, one layer per line, and
/// `"expert_parallel": <expertParallelJSON>` when that is not empty.
void writeStatsJSON(llvm::raw_ostream &os, llvm::ArrayRef<LayerStats> layers,
                    const RunTimings &timings,
                    const std::string &expertParallelJSON = "");

/// A Python 3 with matplotlib for --stats-png ($MHMOE_PYTHON, else
/// /usr/bin/python3, else python3 on PATH) and the plotting script
/// (<tool dir>/../share/mhmoe/plot_expert_load.py), or a message saying
/// what is missing. Checked before the model runs.
struct StatsPlotter {
  std::string python, script;
};
llvm::Expected<StatsPlotter> findStatsPlotter(const char *argv0);

/// Adds `pngPath` to `outputs`: the heat map of the stats `writeJSON`
/// produces, drawn by the plotter into the output's temporary.
llvm::Error addStatsPNG(OutputFiles &outputs, llvm::StringRef pngPath,
                        const StatsPlotter &plotter, OutputWriter writeJSON);

} // namespace mhmoe

#endif
