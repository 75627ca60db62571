//===- CPUTargetDescription.h - what the CPU lowering targets ---*- C++ -*-===//
//
// The one place the CPU lowerings learn vector width, register count, FMA
// units and cache sizes. The compile driver fills it from the host or a named
// LLVM CPU and attaches it to the module as the discardable attribute
// `mhmoe.cpu_target`; the passes read it back (as IREE's executable target
// travels with the IR). A module without it gets the x86-64-v3 (AVX2)
// description, so hand-written IR lowers the same everywhere.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_CONVERSION_CPUTARGET_CPUTARGETDESCRIPTION_H
#define MHMOE_CONVERSION_CPUTARGET_CPUTARGETDESCRIPTION_H

#include "mhmoe/Dialect/MHMoE/IR/MHMoEDialect.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Operation.h"
#include "llvm/Support/Error.h"
#include <string>

namespace mlir::mhmoe {

struct CPUTargetDescription {
  /// LLVM CPU name the code is generated for (-mcpu).
  std::string cpu = "x86-64-v3";
  /// LLVM subtarget features, "+avx2,+fma,...", as the target machine gets them.
  std::string features;
  /// Width of one vector register in bits (128, 256 or 512).
  int64_t vectorBits = 256;
  /// Architectural vector registers (16 ymm for AVX2, 32 zmm for AVX-512).
  int64_t vectorRegisters = 16;
  /// Full-width FMAs issued per cycle, and their latency in cycles.
  int64_t fmaUnits = 2;
  int64_t fmaLatency = 4;
  /// Vector loads per cycle from L1.
  int64_t loadPorts = 2;
  int64_t l1dBytes = 32 * 1024;
  int64_t l2Bytes = 1024 * 1024;
  /// Masked vector loads/stores are native (AVX-512 k registers).
  bool maskedMemoryOps = false;
  /// bf16 pair dot products into f32 lanes at the full vector width
  /// (AVX512-BF16 vdpbf16ps): two multiply-adds per f32 lane per instruction.
  bool bf16DotProduct = false;

  /// f32 lanes per vector register.
  int64_t f32Lanes() const { return vectorBits / 32; }

  /// The attribute the passes read: a dictionary with one entry per field.
  DictionaryAttr toAttr(MLIRContext *ctx) const;
  /// Reads `attr`; fields it lacks keep their defaults, wrong types fail.
  static llvm::Expected<CPUTargetDescription> fromAttr(DictionaryAttr attr);
};

/// Name of the module attribute holding the description.
constexpr llvm::StringLiteral kCPUTargetAttrName =
    mhmoe::kCpuTargetAttr;

/// The description attached to `op`'s enclosing module (or `op` itself when
/// it is the module), else the x86-64-v3 default. A malformed attribute is
/// reported by verifyCPUTarget (its form by the dialect verifier), so here it
/// falls back to the default.
CPUTargetDescription getCPUTarget(Operation *op);

/// Reports a malformed `mhmoe.cpu_target` on `op`'s module as an error
/// naming the field; the CPU passes call it before lowering.
LogicalResult verifyCPUTarget(Operation *op);

/// Describes `cpu`: "host" (this machine: its LLVM CPU name, features and
/// cache sizes), or any LLVM x86 CPU name ("x86-64-v3", "x86-64-v4",
/// "znver4", "sapphirerapids", ...). Unknown names fail with the list of
/// accepted forms.
llvm::Expected<CPUTargetDescription> describeCPU(llvm::StringRef cpu);

/// The vector ISA features of `features` ("+avx512f,+avx2,-sse4a" ->
/// {"avx2", "avx512f"}, sorted): what a library built for it needs of the
/// CPU that runs it, in the spelling of /proc/cpuinfo's flags once '_', '-'
/// and '.' are dropped.
std::vector<std::string> requiredISAFeatures(llvm::StringRef features);

} // namespace mlir::mhmoe

#endif
