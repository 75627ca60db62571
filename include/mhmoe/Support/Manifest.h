//===- Manifest.h - Compiled model library manifest ------------*- C++ -*-===//
//
// The JSON manifest exported by a compiled model library as
// `const char *mhmoe_manifest(void)`; see docs/compiled-library-abi.md.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_SUPPORT_MANIFEST_H
#define MHMOE_SUPPORT_MANIFEST_H

#include "mhmoe/Support/ExpertShard.h"
#include "mhmoe/Support/ModelConfig.h"

#include <optional>

#include "mhmoe/Support/Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mhmoe {

/// 2: outputs gained "layers.{i}.expert_dropped" (0.3.0).
constexpr int64_t kCompiledLibraryAbiVersion = 2;

struct ManifestEntry {
  std::string name;
  std::vector<int64_t> shape; // -1 = the token dimension (num_tokens)
  /// "f32", "bf16", "f16", "i8" (weights) or "i64". An i8 weight `W` comes
  /// with the f32 input `W_scale` (quantizationScaleName): one scale per row.
  std::string dtype;
  /// A weight the library reads only through its packed copy (inputs only):
  /// the runtime frees it after mhmoe_pack.
  bool packedOnly = false;
  /// Expert parallelism (inputs only): this entry is experts
  /// [first, first + count) of the stored tensor, whose leading dimension is
  /// the config's num_experts; count = shape[0].
  std::optional<ExpertRange> expertSlice;
};

struct Manifest {
  int64_t abiVersion = kCompiledLibraryAbiVersion;
  /// The compiler that generated the library ("mhmoe 0.4.0"); empty when the
  /// manifest does not say (libraries from before 0.2.0).
  std::string compiler;
  /// Where argv's buffers live: "cpu" (host pointers) or "cuda" (device
  /// pointers; the library launches CUDA kernels).
  std::string target = "cpu";
  /// CPU libraries: the LLVM CPU the code was generated for and the vector
  /// ISA features it uses (cpuinfo spelling without '_'); empty when unknown.
  std::string cpu;
  std::vector<std::string> cpuFeatures;
  /// Expert parallelism: the library is rank `rank` of `ranks` and calls the
  /// communicator the runtime installs; {0, 1} otherwise.
  ExpertShard expertShard;
  ModelConfig config;
  std::vector<ManifestEntry> inputs;  // "input" and the weights
  std::vector<ManifestEntry> outputs; // "output" and layers.{i}.expert_load
  /// Weights in the layouts the kernels use, allocated by the runtime and
  /// filled once by mhmoe_pack; argv order: inputs, packed, outputs.
  std::vector<ManifestEntry> packed;
};

/// Builds the manifest for `config` in canonical order: inputs = "input"
/// [-1, D] followed by expectedWeights(config); outputs = "output" [-1, D]
/// followed by "layers.{i}.expert_load" [E] (i64) for each layer.
Manifest buildManifest(const ModelConfig &config);
/// Compact JSON text of `manifest` (keys sorted).
std::string manifestJSON(const Manifest &manifest);

/// Parses and validates manifest text. Checks: abi_version == 1, a valid
/// config, entries well formed with unique names, exactly one "input" and one
/// "output" of shape [-1, hidden_size] f32, weights f32/bf16/f16 with static
/// non-negative shapes, every other output named layers.{i}.expert_load with
/// shape [num_experts] i64 and 0 <= i < num_layers.
Result<Manifest> parseManifest(std::string_view jsonText,
                               const std::string &sourceForMessages);

/// The entries of `required` (cpuinfo flag names with '_', '-' and '.'
/// dropped, e.g. "avx512f", "avx512bf16") this machine's CPU lacks, read
/// from the flags of /proc/cpuinfo; empty when that cannot be read.
std::vector<std::string>
missingHostCPUFeatures(const std::vector<std::string> &required);

/// The input holding the per-row scales of int8 weight `weightName`
/// (`<weightName>_scale`, e.g. "layers.0.experts.fc1.weight_scale").
std::string quantizationScaleName(std::string_view weightName);

/// If `name` is "layers.{i}.expert_load", returns i; otherwise -1.
int64_t expertLoadLayerIndex(std::string_view name);
/// If `name` is "layers.{i}.expert_dropped", returns i; otherwise -1.
int64_t expertDroppedLayerIndex(std::string_view name);

} // namespace mhmoe

#endif // MHMOE_SUPPORT_MANIFEST_H
