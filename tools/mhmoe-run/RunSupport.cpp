//===- RunSupport.cpp - mhmoe-run's failures, progress and reports --------===//
#include "RunSupport.h"

#include "mhmoe/Support/Shape.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/WithColor.h"

#include <algorithm>
#include <cmath>

using namespace llvm;

namespace mhmoe {

int report(const Failure &f) {
  outs().flush();
  WithColor::error(errs(), "mhmoe-run") << f.message << "\n";
  return f.code;
}

Failure badInput(const Twine &msg) { return {kExitBadInput, msg.str()}; }
Failure runtimeFailure(const Twine &msg) { return {kExitRuntime, msg.str()}; }

Failure fromStatus(mhmoe_status s, const Twine &context) {
  std::string msg = mhmoe_last_error();
  if (msg.empty())
    msg = "unknown runtime error";
  if (!context.isTriviallyEmpty())
    msg = context.str() + ": " + msg;
  return {s == MHMOE_ERROR_INVALID_INPUT ? kExitBadInput : kExitRuntime, msg};
}

SlowStepNotice::SlowStepNotice(std::string what)
    : what(std::move(what)), start(std::chrono::steady_clock::now()),
      watcher([this] {
        std::unique_lock<std::mutex> lock(mutex);
        if (!done.wait_for(lock, std::chrono::seconds(1),
                           [this] { return finished; })) {
          errs() << "mhmoe-run: " << this->what << "...\n";
          announced = true;
        }
      }) {}

SlowStepNotice::~SlowStepNotice() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    finished = true;
  }
  done.notify_one();
  watcher.join();
  if (announced)
    errs() << formatv("mhmoe-run: {0}: done in {1:F1} s\n", what,
                      std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count());
}

double millisecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - t0)
      .count();
}

/// The output's moments and each layer's active experts.
void printSummary(raw_ostream &os, const ModelConfig &config,
                  ArrayRef<int64_t> shape,
                  int64_t tokens, ArrayRef<float> output,
                  ArrayRef<LayerStats> stats) {
  double sum = 0, sumSq = 0, absMax = 0;
  int64_t nonFinite = 0;
  for (float v : output) {
    if (!std::isfinite(v)) {
      ++nonFinite;
      continue;
    }
    sum += v;
    sumSq += double(v) * v;
    absMax = std::max(absMax, double(std::fabs(v)));
  }
  const double n = double(output.size() - nonFinite);
  const double mean = n > 0 ? sum / n : 0;
  const double var = n > 0 ? std::max(0.0, sumSq / n - mean * mean) : 0;
  os << "tokens: " << tokens << " (input shape " << formatShape(shape)
         << ")\n";
  os << format("output: mean %.6g std %.6g absmax %.6g", mean,
                   std::sqrt(var), absMax);
  if (nonFinite)
    os << " (" << nonFinite << " non-finite values)";
  os << "\n";
  for (int64_t l = 0; l < config.numLayers; ++l)
    os << "layer " << l << ": " << stats[l].activeExperts << "/"
           << config.numExperts << " experts active, dropped "
           << stats[l].dropped << "\n";
  if (nonFinite)
    WithColor::warning(errs(), "mhmoe-run")
        << "the output contains " << nonFinite << " non-finite values\n";
}

static double medianOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t k = v.size();
  return k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
}

/// --bench K: K more runs, median and min latency (and device time on CUDA).
std::optional<Failure> benchmark(raw_ostream &os, mhmoe_model *m, int runs,
                                 const float *input, int64_t tokens,
                                 float *output, int64_t *load,
                                 std::optional<double> &medianMs) {
  os.flush();
  std::vector<double> ms, deviceMs;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    mhmoe_status s = mhmoe_model_run(m, input, tokens, output, load);
    auto t1 = std::chrono::steady_clock::now();
    if (s != MHMOE_OK)
      return fromStatus(s, "benchmark run");
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    double dev = mhmoe_model_last_run_device_ms(m);
    if (dev >= 0)
      deviceMs.push_back(dev);
  }
  double median = medianOf(ms);
  medianMs = median;
  double seconds = std::max(median, 1e-6) / 1000.0;
  uint64_t tokPerSec = static_cast<uint64_t>(std::llround(tokens / seconds));
  os << formatv("median {0:F3} ms, min {1:F3} ms, {2} tokens/s\n", median,
                    *std::min_element(ms.begin(), ms.end()), tokPerSec);
  if (!deviceMs.empty()) // CUDA events around the forward call
    os << formatv("device: median {0:F3} ms, min {1:F3} ms (CUDA "
                      "events, excluding host<->device copies)\n",
                      medianOf(deviceMs),
                      *std::min_element(deviceMs.begin(), deviceMs.end()));
  return std::nullopt;
}

} // namespace mhmoe
