//===- RunStats.cpp - mhmoe-run --stats and --stats-png -------------------===//
#include "RunStats.h"

#include "mhmoe/ToolSupport/LLVMError.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>

using namespace llvm;

namespace mhmoe {

std::vector<LayerStats> makeStats(const ModelConfig &c, int64_t tokens,
                                  const std::vector<int64_t> &load,
                                  const std::vector<int64_t> &dropped) {
  std::vector<LayerStats> layers(static_cast<size_t>(c.numLayers));
  for (int64_t l = 0; l < c.numLayers; ++l) {
    LayerStats &ls = layers[l];
    ls.subTokens = tokens * c.heads;
    ls.load.assign(load.begin() + l * c.numExperts,
                   load.begin() + (l + 1) * c.numExperts);
    ls.droppedPerExpert.assign(dropped.begin() + l * c.numExperts,
                               dropped.begin() + (l + 1) * c.numExperts);
    int64_t sum = 0, max = 0;
    for (int64_t v : ls.load) {
      sum += v;
      max = std::max(max, v);
      ls.activeExperts += v > 0;
    }
    for (int64_t v : ls.droppedPerExpert)
      ls.dropped += v;
    ls.activationRatio = double(ls.activeExperts) / double(c.numExperts);
    ls.loadImbalance = sum > 0 ? double(max) * double(c.numExperts) / sum : 0;
  }
  return layers;
}

/// Always a JSON float ("1.0", not "1"), exact.
static std::string jsonFloat(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s;
}

void writeStatsJSON(raw_ostream &os, ArrayRef<LayerStats> layers,
                    const RunTimings &t, const std::string &expertParallelJSON) {
  os << "{\"layers\": [";
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayerStats &ls = layers[l];
    os << (l ? ",\n  " : "\n  ");
    os << "{\"layer\": " << l << ", \"sub_tokens\": " << ls.subTokens
       << ", \"expert_load\": [";
    for (size_t e = 0; e < ls.load.size(); ++e)
      os << (e ? ", " : "") << ls.load[e];
    os << "], \"expert_dropped\": [";
    for (size_t e = 0; e < ls.droppedPerExpert.size(); ++e)
      os << (e ? ", " : "") << ls.droppedPerExpert[e];
    os << "], \"dropped\": " << ls.dropped
       << ", \"activation_ratio\": " << jsonFloat(ls.activationRatio)
       << ", \"load_imbalance\": " << jsonFloat(ls.loadImbalance) << "}";
  }
  // Timings to the microsecond.
  auto ms = [](double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return std::string(buf);
  };
  os << "\n],\n\"memory_bytes\": {\"resident_before_load\": "
     << t.residentBeforeLoadBytes
     << ", \"resident_after_load\": " << t.residentAfterLoadBytes
     << ", \"peak_resident\": " << t.peakResidentBytes << "},";
  os << "\n\"timings_ms\": {";
  if (t.compileMs)
    os << "\"compile\": " << ms(*t.compileMs) << ", ";
  os << "\"load\": " << ms(t.loadMs) << ", \"pack\": " << ms(t.packMs)
     << ", \"first_run\": " << ms(t.firstRunMs);
  if (t.steadyRunMs)
    os << ", \"steady_run\": " << ms(*t.steadyRunMs);
  os << "}";
  if (!expertParallelJSON.empty())
    os << ",\n\"expert_parallel\": " << expertParallelJSON;
  os << "}\n";
}

uint64_t residentBytes() {
  unsigned long long size = 0, resident = 0;
  if (std::FILE *f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%llu %llu", &size, &resident) != 2)
      resident = 0;
    std::fclose(f);
  }
  return resident * static_cast<uint64_t>(sys::Process::getPageSizeEstimate());
}

uint64_t peakResidentBytes() {
  uint64_t kb = 0;
  if (std::FILE *f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmHWM: %" SCNu64 " kB", &kb) == 1)
        break;
    std::fclose(f);
  }
  return kb * 1024;
}

/// True when `python` runs and imports matplotlib.
static bool hasMatplotlib(StringRef python) {
  std::optional<StringRef> quiet[] = {StringRef(""), StringRef(""),
                                      StringRef("")};
  StringRef args[] = {python, "-c", "import matplotlib"};
  return sys::ExecuteAndWait(python, args, std::nullopt, quiet) == 0;
}

Expected<StatsPlotter> findStatsPlotter(const char *argv0) {
  StatsPlotter p;
  std::string exe = sys::fs::getMainExecutable(
      argv0, reinterpret_cast<void *>(&findStatsPlotter));
  SmallString<256> script(sys::path::parent_path(sys::path::parent_path(exe)));
  sys::path::append(script, "share", "mhmoe", "plot_expert_load.py");
  if (!sys::fs::exists(script))
    return makeError("--stats-png: the plotting script " + script +
                     " is missing (a broken installation?)");
  p.script = script.str().str();
  std::vector<std::string> candidates;
  if (const char *env = std::getenv("MHMOE_PYTHON"))
    candidates.push_back(env);
  candidates.push_back("/usr/bin/python3");
  if (ErrorOr<std::string> onPath = sys::findProgramByName("python3"))
    candidates.push_back(*onPath);
  for (const std::string &python : candidates)
    if (sys::fs::can_execute(python) && hasMatplotlib(python)) {
      p.python = python;
      return p;
    }
  return makeError("--stats-png needs Python 3 with matplotlib (Debian: apt "
                   "install python3-matplotlib; or set MHMOE_PYTHON to such "
                   "an interpreter)");
}

Error addStatsPNG(OutputFiles &outputs, StringRef pngPath,
                  const StatsPlotter &plotter, OutputWriter writeJSON) {
  return outputs.addProduced(
      pngPath, "--stats-png", [plotter, writeJSON](StringRef tmpPng) -> Error {
        // The JSON goes beside the PNG's temporary, so that it is swept with
        // it if this process dies.
        std::string json = (tmpPng + ".json").str();
        {
          std::error_code ec;
          raw_fd_ostream os(json, ec);
          if (ec)
            return makeError(json + ": " + ec.message());
          if (Error e = writeJSON(os))
            return e;
        }
        std::string log = (tmpPng + ".log").str();
        std::optional<StringRef> redirects[] = {std::nullopt, StringRef(log),
                                                StringRef(log)};
        StringRef args[] = {plotter.python, plotter.script, json, tmpPng};
        int rc = sys::ExecuteAndWait(plotter.python, args, std::nullopt,
                                     redirects);
        std::string text;
        if (auto buf = MemoryBuffer::getFile(log))
          text = StringRef((*buf)->getBuffer()).trim().str();
        sys::fs::remove(json);
        sys::fs::remove(log);
        if (rc != 0)
          return makeError("--stats-png: drawing the heat map failed: " +
                           text);
        return Error::success();
      });
}

} // namespace mhmoe
