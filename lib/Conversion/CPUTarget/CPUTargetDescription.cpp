//===- CPUTargetDescription.cpp - host / named CPU descriptions -----------===//
#include "mhmoe/Conversion/CPUTarget/CPUTargetDescription.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/X86TargetParser.h"
#include <algorithm>
#include <unistd.h>

using namespace mlir;
using namespace mlir::mhmoe;

namespace {

llvm::Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// Vector shape facts that follow from the enabled features and the CPU.
void deriveVectorFacts(CPUTargetDescription &t,
                       const llvm::StringMap<bool> &enabled) {
  auto has = [&](llvm::StringRef f) {
    auto it = enabled.find(f);
    return it != enabled.end() && it->second;
  };
  if (has("avx512f")) {
    t.vectorBits = 512;
    t.vectorRegisters = 32;
    t.maskedMemoryOps = true;
    t.bf16DotProduct = has("avx512bf16");
  } else if (has("avx")) {
    t.vectorBits = 256;
    t.vectorRegisters = 16;
  } else {
    t.vectorBits = 128;
    t.vectorRegisters = 16;
  }
  // Zen 4 executes a 512-bit FMA as two 256-bit halves on its two FMA pipes.
  t.fmaUnits = (t.vectorBits == 512 && llvm::StringRef(t.cpu) == "znver4") ? 1 : 2;
}

std::string joinFeatures(const llvm::StringMap<bool> &enabled) {
  std::vector<std::string> parts;
  for (const auto &f : enabled)
    parts.push_back((f.second ? "+" : "-") + f.first().str());
  std::sort(parts.begin(), parts.end());
  std::string s;
  for (const std::string &p : parts)
    s += (s.empty() ? "" : ",") + p;
  return s;
}

void readHostCaches(CPUTargetDescription &t) {
  long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l1 > 0)
    t.l1dBytes = l1;
  if (l2 > 0)
    t.l2Bytes = l2;
}

} // namespace

DictionaryAttr CPUTargetDescription::toAttr(MLIRContext *ctx) const {
  Builder b(ctx);
  SmallVector<NamedAttribute> fields = {
      b.getNamedAttr("cpu", b.getStringAttr(cpu)),
      b.getNamedAttr("features", b.getStringAttr(features)),
      b.getNamedAttr("vector_bits", b.getI64IntegerAttr(vectorBits)),
      b.getNamedAttr("vector_registers", b.getI64IntegerAttr(vectorRegisters)),
      b.getNamedAttr("fma_units", b.getI64IntegerAttr(fmaUnits)),
      b.getNamedAttr("fma_latency", b.getI64IntegerAttr(fmaLatency)),
      b.getNamedAttr("load_ports", b.getI64IntegerAttr(loadPorts)),
      b.getNamedAttr("l1d_bytes", b.getI64IntegerAttr(l1dBytes)),
      b.getNamedAttr("l2_bytes", b.getI64IntegerAttr(l2Bytes)),
      b.getNamedAttr("masked_memory_ops", b.getBoolAttr(maskedMemoryOps)),
      b.getNamedAttr("bf16_dot_product", b.getBoolAttr(bf16DotProduct))};
  return b.getDictionaryAttr(fields);
}

llvm::Expected<CPUTargetDescription>
CPUTargetDescription::fromAttr(DictionaryAttr attr) {
  CPUTargetDescription t;
  for (NamedAttribute field : attr) {
    llvm::StringRef name = field.getName().getValue();
    Attribute v = field.getValue();
    auto str = dyn_cast<StringAttr>(v);
    auto num = dyn_cast<IntegerAttr>(v);
    auto flag = dyn_cast<BoolAttr>(v);
    std::string *strField = name == "cpu" ? &t.cpu
                            : name == "features" ? &t.features
                                                 : nullptr;
    int64_t *numField = name == "vector_bits"        ? &t.vectorBits
                        : name == "vector_registers" ? &t.vectorRegisters
                        : name == "fma_units"        ? &t.fmaUnits
                        : name == "fma_latency"      ? &t.fmaLatency
                        : name == "load_ports"       ? &t.loadPorts
                        : name == "l1d_bytes"        ? &t.l1dBytes
                        : name == "l2_bytes"         ? &t.l2Bytes
                                                     : nullptr;
    if (strField && str)
      *strField = str.getValue().str();
    else if (numField && num && !flag)
      *numField = num.getInt();
    else if (name == "masked_memory_ops" && flag)
      t.maskedMemoryOps = flag.getValue();
    else if (name == "bf16_dot_product" && flag)
      t.bf16DotProduct = flag.getValue();
    else if (strField || numField || name == "masked_memory_ops" ||
             name == "bf16_dot_product")
      return makeError("field '" + name + "' has the wrong type");
    else
      return makeError("unknown field '" + name + "'");
  }
  if (t.vectorBits != 128 && t.vectorBits != 256 && t.vectorBits != 512)
    return makeError("vector_bits is " + llvm::Twine(t.vectorBits) +
                     ", expected 128, 256 or 512");
  if (t.vectorRegisters < 8 || t.vectorRegisters > 64)
    return makeError("vector_registers is " + llvm::Twine(t.vectorRegisters) +
                     ", expected 8 to 64");
  for (auto [n, v] : {std::pair<const char *, int64_t>{"fma_units", t.fmaUnits},
                      {"fma_latency", t.fmaLatency},
                      {"load_ports", t.loadPorts},
                      {"l1d_bytes", t.l1dBytes},
                      {"l2_bytes", t.l2Bytes}})
    if (v < 1 || v > (int64_t(1) << 40))
      return makeError(llvm::Twine(n) + " is " + llvm::Twine(v) +
                       ", expected a positive count");
  return t;
}

CPUTargetDescription mlir::mhmoe::getCPUTarget(Operation *op) {
  auto module = dyn_cast<ModuleOp>(op);
  if (!module)
    module = op->getParentOfType<ModuleOp>();
  if (module)
    if (auto attr = module->getAttrOfType<DictionaryAttr>(kCPUTargetAttrName)) {
      if (auto t = CPUTargetDescription::fromAttr(attr))
        return *t;
      else
        llvm::consumeError(t.takeError());
    }
  return CPUTargetDescription();
}

LogicalResult mlir::mhmoe::verifyCPUTarget(Operation *op) {
  auto module = dyn_cast<ModuleOp>(op);
  if (!module)
    module = op->getParentOfType<ModuleOp>();
  if (!module || !module->hasAttr(kCPUTargetAttrName))
    return success();
  auto attr = module->getAttrOfType<DictionaryAttr>(kCPUTargetAttrName);
  if (!attr)
    return module.emitError() << "'" << kCPUTargetAttrName
                              << "' must be a dictionary";
  if (auto t = CPUTargetDescription::fromAttr(attr); !t)
    return module.emitError()
           << "invalid '" << kCPUTargetAttrName
           << "': " << llvm::toString(t.takeError());
  return success();
}

llvm::Expected<CPUTargetDescription>
mlir::mhmoe::describeCPU(llvm::StringRef cpu) {
  CPUTargetDescription t;
  llvm::StringMap<bool> enabled;
  if (cpu == "host") {
    t.cpu = llvm::sys::getHostCPUName().str();
    for (auto &f : llvm::sys::getHostCPUFeatures())
      enabled[f.first()] = f.second;
    readHostCaches(t);
  } else {
    if (llvm::X86::parseArchX86(cpu, /*Only64Bit=*/true) == llvm::X86::CK_None)
      return makeError("unknown CPU '" + cpu +
                       "' (expected host, x86-64-v3, x86-64-v4 or a 64-bit "
                       "x86 CPU name LLVM knows, e.g. skylake-avx512, znver4)");
    t.cpu = cpu.str();
    SmallVector<llvm::StringRef> names;
    llvm::X86::getFeaturesForCPU(cpu, names, /*NeedPlus=*/false);
    // The CPU's table lists features without those they imply (avx512bw,
    // not avx512f): close the set so the vector facts can be read off it.
    for (llvm::StringRef f : names) {
      enabled[f] = true;
      llvm::X86::updateImpliedFeatures(f, true, enabled);
    }
  }
  t.features = joinFeatures(enabled);
  deriveVectorFacts(t, enabled);
  return t;
}

std::vector<std::string>
mlir::mhmoe::requiredISAFeatures(llvm::StringRef features) {
  std::vector<std::string> out;
  SmallVector<llvm::StringRef> parts;
  features.split(parts, ',', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef p : parts) {
    if (!p.consume_front("+"))
      continue;
    // Vector ISA extensions only; LLVM-internal pseudo features (evex512,
    // avx10.x) have no cpuinfo flag of their own.
    bool vectorISA = (p.starts_with("avx") && !p.starts_with("avx10")) ||
                     p == "fma" || p == "fma4" || p == "f16c" ||
                     p.starts_with("amx");
    if (vectorISA)
      out.push_back(p.str());
  }
  std::sort(out.begin(), out.end());
  return out;
}
