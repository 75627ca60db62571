//===- Compiler.cpp - mhmoe compile driver --------------------------------===//
//
// importer -> mhmoe-cpu-pipeline -> LLVM IR -> O3 for the host CPU -> object
// -> shared library (linked by the system C compiler driver against libomp).
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Compiler/Compiler.h"
#include "SharedLibraryLinker.h"
#include "mhmoe/Runtime/mhmoe_runtime.h"
#include "mhmoe/Import/ModelImporter.h"
#include "mhmoe/InitAll.h"
#include "mhmoe/Pipelines/Pipelines.h"
#include "mhmoe/Support/SafeTensors.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mhmoe/ToolSupport/OutputFiles.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/xxhash.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/TargetParser/X86TargetParser.h"
#include "mhmoe/Conversion/CPUTarget/CPUTargetDescription.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"
#include <functional>
#include <mutex>

using namespace mlir;

namespace {

llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

void initLLVMOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

/// Collects MLIR diagnostics into one message instead of printing them.
struct DiagnosticCollector {
  explicit DiagnosticCollector(MLIRContext &ctx)
      : handler(&ctx, [this](Diagnostic &d) {
          llvm::raw_string_ostream os(text);
          if (!text.empty())
            os << "\n";
          os << d.getLocation() << ": " << d;
          return success();
        }) {}
  std::string text;
  ScopedDiagnosticHandler handler;
};

std::unique_ptr<MLIRContext> makeContext() {
  DialectRegistry registry;
  mlir::mhmoe::registerAllDialects(registry);
  registerAllToLLVMIRTranslations(registry);
  auto ctx = std::make_unique<MLIRContext>(registry);
  ctx->loadAllAvailableDialects();
  return ctx;
}

/// The target machine for `cpu` (its LLVM name and subtarget features).
llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
cpuTargetMachine(const mlir::mhmoe::CPUTargetDescription &cpu) {
  initLLVMOnce();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return err("no LLVM target for " + triple.str() + ": " + error);
  // An ISA level (x86-64-v3/-v4) names features, not a micro-architecture,
  // and LLVM's generic scheduling for it ran the layer at half speed here:
  // schedule for the compiling machine's CPU with its extra features off.
  std::string cpuName = cpu.cpu, features = cpu.features;
  if (llvm::StringRef(cpu.cpu).starts_with("x86-64")) {
    cpuName = llvm::sys::getHostCPUName().str();
    llvm::StringSet<> wanted;
    llvm::SmallVector<llvm::StringRef> parts;
    llvm::StringRef(cpu.features).split(parts, ',');
    for (llvm::StringRef f : parts)
      if (f.consume_front("+"))
        wanted.insert(f);
    llvm::StringSet<> off;
    llvm::SmallVector<llvm::StringRef> cpuFeatures;
    llvm::X86::getFeaturesForCPU(cpuName, cpuFeatures);
    for (llvm::StringRef f : cpuFeatures)
      off.insert(f);
    for (const auto &f : llvm::sys::getHostCPUFeatures())
      if (f.second)
        off.insert(f.first());
    // Only vector ISA extensions are turned off; the rest (64bit, cx16, ...)
    // the ISA level has too.
    for (const auto &f : off) {
      llvm::StringRef name = f.getKey();
      bool vectorISA = name.starts_with("avx") || name.starts_with("amx") ||
                       name == "fma4" || name == "xop" ||
                       name.starts_with("vpclmul") || name == "gfni" ||
                       name == "vaes";
      if (vectorISA && !wanted.contains(name))
        features += ",-" + name.str();
    }
  }
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, cpuName, features, options, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  if (!tm)
    return err("cannot create a target machine for CPU '" + cpu.cpu + "'");
  return tm;
}

/// The compiler's one output, checked before any work is done (a bad -o
/// fails in milliseconds, not after a whole compile) and written all or
/// nothing: a file through an OutputFiles set, "-" (stdout, any kind) only
/// once the whole artifact exists in memory, so a failed compile writes
/// nothing there either.
class ArtifactOutput {
public:
  /// Text and object artifacts stream through `write`; a shared library is
  /// produced at a temporary path through `produce`.
  llvm::Error open(const ::mhmoe::CompileOptions &opts, llvm::StringRef path) {
    for (const std::string &in : opts.protectedInputs)
      files.protectInput(in);
    if (opts.emit == ::mhmoe::EmitKind::Lib)
      return files.addProduced(path, "-o", [this](llvm::StringRef tmp) {
        return produce(tmp);
      });
    return files.add(path, "-o", [this](llvm::raw_ostream &os) {
      return write(os);
    });
  }
  // "-" is stdout: OutputFiles writes it once the artifact is complete.
  llvm::Error finish(std::function<llvm::Error(llvm::raw_ostream &)> w) {
    write = std::move(w);
    return files.commit();
  }
  llvm::Error finishProduced(std::function<llvm::Error(llvm::StringRef)> p) {
    produce = std::move(p);
    return files.commit();
  }

private:
  ::mhmoe::OutputFiles files;
  std::function<llvm::Error(llvm::raw_ostream &)> write;
  std::function<llvm::Error(llvm::StringRef)> produce;
};

/// The PTX of the model's kernels: the GPU pipeline outlines all of them
/// into one gpu.module (mhmoe-gpu-kernel-module), serialised with
/// format=isa into one gpu.binary object, so the text is one PTX module
/// (one .version/.target header) that ptxas takes as it is.
llvm::Expected<std::string> kernelPTX(ModuleOp module) {
  SmallVector<gpu::BinaryOp> binaries(module.getOps<gpu::BinaryOp>());
  if (binaries.size() != 1 || binaries.front().getObjects().size() != 1)
    return err("internal error: --emit=ptx expects the kernels in one "
               "gpu.binary with one object, found " +
               llvm::Twine(binaries.size()) + " gpu.binary ops");
  auto object = dyn_cast<gpu::ObjectAttr>(binaries.front().getObjects()[0]);
  if (!object || object.getFormat() != gpu::CompilationTarget::Assembly)
    return err("internal error: --emit=ptx: the kernel object is not PTX");
  return object.getObject().getValue().str();
}

/// The CPU or GPU pipeline `opts` asks for.
void addLoweringPipeline(PassManager &pm, const ::mhmoe::CompileOptions &opts) {
  if (opts.target == ::mhmoe::Target::CPU) {
    mlir::mhmoe::CPUPipelineOptions pipelineOpts;
    switch (opts.stopAt) {
    case ::mhmoe::StopAt::Tensor:
      pipelineOpts.stopAt = mlir::mhmoe::CPUStopAt::Tensor;
      break;
    case ::mhmoe::StopAt::Buffer:
      pipelineOpts.stopAt = mlir::mhmoe::CPUStopAt::Buffer;
      break;
    case ::mhmoe::StopAt::LLVM:
      // Only the LLVM lowering reads it (the pipeline refuses it earlier).
      pipelineOpts.parallel = opts.parallel;
      break;
    }
    pipelineOpts.matmulPrecision = opts.matmulPrecision;
    mlir::mhmoe::buildCPUPipeline(pm, pipelineOpts);
    return;
  }
  mlir::mhmoe::GPUPipelineOptions pipelineOpts;
  pipelineOpts.chip = opts.gpuChip;
  pipelineOpts.math = *mlir::mhmoe::parseGPUMathMode(opts.gpuMath);
  pipelineOpts.format = opts.emit == ::mhmoe::EmitKind::PTX
                            ? mlir::mhmoe::GPUKernelFormat::ISA
                            : mlir::mhmoe::GPUKernelFormat::Fatbin;
  pipelineOpts.emulate = opts.target == ::mhmoe::Target::CUDAEmulator;
  mlir::mhmoe::buildGPUPipeline(pm, pipelineOpts);
}

/// Writes `print`'s text as the artifact.
llvm::Error finishText(ArtifactOutput &output,
                       std::function<void(llvm::raw_ostream &)> print) {
  return output.finish([&](llvm::raw_ostream &os) {
    print(os);
    return llvm::Error::success();
  });
}

/// Describes the CPU the code is for (the GPU targets' host code: this
/// machine) and, for the CPU target, puts the description on the module,
/// where the passes read it; locates the CUDA toolkit for the CUDA target.
llvm::Expected<mlir::mhmoe::CPUTargetDescription>
prepareTarget(MLIRContext &ctx, ModuleOp module,
              const ::mhmoe::CompileOptions &opts) {
  auto cpu = mlir::mhmoe::describeCPU(
      opts.target == ::mhmoe::Target::CPU ? llvm::StringRef(opts.cpu) : "host");
  if (!cpu)
    return cpu.takeError();
  if (opts.target == ::mhmoe::Target::CPU)
    module->setAttr(mlir::mhmoe::kCPUTargetAttrName, cpu->toAttr(&ctx));
  if (opts.target == ::mhmoe::Target::CUDA)
    if (llvm::Error e = ::mhmoe::prepareCudaToolkit())
      return std::move(e);
  return cpu;
}

/// Runs the target's lowering pipeline; its diagnostics become the error.
llvm::Error lowerModule(MLIRContext &ctx, ModuleOp module,
                        const ::mhmoe::CompileOptions &opts) {
  DiagnosticCollector diags(ctx);
  PassManager pm(&ctx);
  if (opts.timing)
    pm.enableTiming();
  addLoweringPipeline(pm, opts);
  if (failed(pm.run(module)))
    return err("lowering failed:\n" + diags.text);
  return llvm::Error::success();
}

/// The lowered module as optimised LLVM IR for `tm`.
llvm::Expected<std::unique_ptr<llvm::Module>>
translateAndOptimize(MLIRContext &ctx, ModuleOp module,
                     llvm::LLVMContext &llvmCtx, llvm::TargetMachine &tm,
                     ::mhmoe::Target target) {
  DiagnosticCollector diags(ctx);
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmCtx, "mhmoe_model");
  if (!llvmModule)
    return err("translation to LLVM IR failed:\n" + diags.text);
  llvmModule->setDataLayout(tm.createDataLayout());
  llvmModule->setTargetTriple(tm.getTargetTriple());
  // The emulator's loops (threads x barrier segments x MMA steps) are large
  // and only run in tests: O0 keeps its compile time in seconds.
  unsigned optLevel = target == ::mhmoe::Target::CUDAEmulator ? 0 : 3;
  auto optimize = makeOptimizingTransformer(optLevel, 0, &tm);
  if (llvm::Error e = optimize(llvmModule.get()))
    return std::move(e);
  return std::move(llvmModule);
}

llvm::Error emitObject(llvm::TargetMachine &tm, llvm::Module &llvmModule,
                       llvm::raw_pwrite_stream &os) {
  llvm::legacy::PassManager codegen;
  if (tm.addPassesToEmitFile(codegen, os, nullptr,
                             llvm::CodeGenFileType::ObjectFile))
    return err("the host target cannot emit object files");
  codegen.run(llvmModule);
  return llvm::Error::success();
}

/// Shared library: the object beside the output's temporary, linked into it.
llvm::Error finishSharedLibrary(ArtifactOutput &output, llvm::TargetMachine &tm,
                                llvm::Module &llvmModule,
                                const ::mhmoe::CompileOptions &opts) {
  return output.finishProduced([&](llvm::StringRef tmpLib) -> llvm::Error {
    std::string objPath = (tmpLib + ".o").str();
    {
      std::error_code ec;
      llvm::raw_fd_ostream os(objPath, ec, llvm::sys::fs::OF_None);
      if (ec)
        return err("cannot create the object file '" + objPath +
                   "': " + ec.message());
      if (llvm::Error e = emitObject(tm, llvmModule, os)) {
        llvm::sys::fs::remove(objPath);
        return e;
      }
    }
    llvm::Error linked = ::mhmoe::linkSharedLibrary(objPath, tmpLib, opts.target,
                                                     opts.openMPRuntime);
    llvm::sys::fs::remove(objPath);
    return linked;
  });
}

/// The artifacts after LLVM translation: IR, object or shared library.
llvm::Error emitMachineArtifact(MLIRContext &ctx, ModuleOp module,
                                const ::mhmoe::CompileOptions &opts,
                                const mlir::mhmoe::CPUTargetDescription &cpu,
                                ArtifactOutput &output) {
  auto tm = cpuTargetMachine(cpu);
  if (!tm)
    return tm.takeError();
  llvm::LLVMContext llvmCtx;
  auto llvmModule =
      translateAndOptimize(ctx, module, llvmCtx, **tm, opts.target);
  if (!llvmModule)
    return llvmModule.takeError();
  llvm::Module &m = **llvmModule;
  switch (opts.emit) {
  case ::mhmoe::EmitKind::LLVM:
    return finishText(output,
                      [&](llvm::raw_ostream &os) { m.print(os, nullptr); });
  case ::mhmoe::EmitKind::Obj:
    return output.finish([&](llvm::raw_ostream &os) -> llvm::Error {
      llvm::SmallString<0> buf;
      llvm::raw_svector_ostream bos(buf);
      if (llvm::Error e = emitObject(**tm, m, bos))
        return e;
      os << buf;
      return llvm::Error::success();
    });
  default:
    return finishSharedLibrary(output, **tm, m, opts);
  }
}

llvm::Error compileModule(MLIRContext &ctx, ModuleOp module,
                          const ::mhmoe::CompileOptions &opts,
                          llvm::StringRef outputPath) {
  using ::mhmoe::EmitKind;
  if (llvm::Error e = ::mhmoe::checkCompileOptions(opts))
    return e;
  ArtifactOutput output;
  if (llvm::Error e = output.open(opts, outputPath))
    return e;
  auto print = [&](llvm::raw_ostream &os) { module.print(os); };
  if (opts.emit == EmitKind::MLIR)
    return finishText(output, print);
  auto cpu = prepareTarget(ctx, module, opts);
  if (!cpu)
    return cpu.takeError();
  if (llvm::Error e = lowerModule(ctx, module, opts))
    return e;
  if (opts.emit == EmitKind::PTX) {
    auto ptx = kernelPTX(module);
    if (!ptx)
      return ptx.takeError();
    return finishText(output, [&](llvm::raw_ostream &os) { os << *ptx; });
  }
  if (opts.emit == EmitKind::Lowered)
    return finishText(output, print);
  return emitMachineArtifact(ctx, module, opts, *cpu, output);
}

} // namespace

namespace mhmoe {
llvm::StringRef targetName(Target t) {
  switch (t) {
  case Target::CPU:
    return "cpu";
  case Target::CUDA:
    return "cuda";
  case Target::CUDAEmulator:
    return "cuda-emulator";
  }
  return "unknown";
}

llvm::StringRef openMPRuntimeName(OpenMPRuntime r) {
  return r == OpenMPRuntime::LibGomp ? "libgomp" : "libomp";
}

std::optional<OpenMPRuntime> parseOpenMPRuntime(llvm::StringRef name) {
  if (name == "libomp")
    return OpenMPRuntime::LibOmp;
  if (name == "libgomp")
    return OpenMPRuntime::LibGomp;
  return std::nullopt;
}

llvm::Error checkCompileOptions(const CompileOptions &opts) {
  auto usage = [](const llvm::Twine &msg) {
    return llvm::createStringError(std::errc::invalid_argument, "%s",
                                   msg.str().c_str());
  };
  if (opts.emit == EmitKind::PTX && opts.target != Target::CUDA)
    return usage("--emit=ptx needs --target=cuda");
  if (!mlir::mhmoe::parseGPUMathMode(opts.gpuMath))
    return usage("unknown --gpu-math '" + opts.gpuMath +
                 "' (available: simt, tf32, 3xtf32, 16bit)");
  if (opts.stopAt != StopAt::LLVM && opts.emit != EmitKind::Lowered)
    return usage("--stop-at=tensor|buffer needs --emit=lowered (the other "
                 "kinds are built from the LLVM dialect)");
  if (opts.stopAt != StopAt::LLVM && opts.target != Target::CPU)
    return usage("--stop-at=tensor|buffer needs --target=cpu");
  if (opts.expertShard.ranks < 1 || opts.expertShard.rank < 0 ||
      opts.expertShard.rank >= opts.expertShard.ranks)
    return usage("--expert-shard=" + llvm::Twine(opts.expertShard.rank) + "/" +
                 llvm::Twine(opts.expertShard.ranks) +
                 " needs 0 <= rank < ranks");
  if (opts.matmulPrecision != mlir::mhmoe::MatmulPrecision::F32 &&
      opts.target != Target::CPU)
    return usage("--matmul-precision=bf16 needs --target=cpu (the CUDA "
                 "targets' arithmetic is --gpu-math)");
  if (opts.openMPRuntime != OpenMPRuntime::LibOmp && opts.target != Target::CPU)
    return usage("--openmp-runtime=" + openMPRuntimeName(opts.openMPRuntime) +
                 " needs --target=cpu");
  if (opts.stopAt != StopAt::LLVM && !opts.parallel)
    return usage("--no-parallel needs --stop-at=llvm (before that, the "
                 "scf.parallel loops are left to the pipeline that takes "
                 "over)");
  return llvm::Error::success();
}

WeightPrecision checkpointWeightPrecision(llvm::StringRef modelDir, const ModelConfig &config) {
  llvm::SmallString<256> path(modelDir);
  llvm::sys::path::append(path, "model.safetensors");
  // No weights (a config-only compile), or a file the runtime will refuse
  // with its own message: f32, the precision that takes any float tensor.
  Result<std::map<std::string, std::string>> dtypes =
      readSafeTensorsDTypes(path.str().str());
  if (!dtypes)
    return WeightPrecision::F32;
  std::optional<std::string> common;
  for (const TensorSpec &w : expectedWeights(config)) {
    if (!w.matrix)
      continue;
    auto it = dtypes->find(w.name);
    if (it == dtypes->end() || (common && *common != it->second))
      return WeightPrecision::F32;
    common = it->second;
  }
  if (common == "BF16")
    return WeightPrecision::BF16;
  if (common == "F16")
    return WeightPrecision::F16;
  if (common == "I8") // pre-quantized, with `<name>_scale` tensors
    return WeightPrecision::Int8;
  return WeightPrecision::F32;
}

llvm::Expected<WeightPrecision>
resolveWeightPrecision(llvm::StringRef value, llvm::StringRef modelDir,
                       const ModelConfig &config) {
  if (value == "auto")
    return checkpointWeightPrecision(modelDir, config);
  if (std::optional<WeightPrecision> p = parseWeightPrecision(value.str()))
    return *p;
  return llvm::createStringError(std::errc::invalid_argument,
                                 "unknown weights '%s' (available: auto, "
                                 "f32, bf16, f16, int8)",
                                 value.str().c_str());
}

llvm::Expected<ExpertShard> parseExpertShard(llvm::StringRef text) {
  auto [r, n] = text.split('/');
  ExpertShard shard;
  if (r.getAsInteger(10, shard.rank) || n.getAsInteger(10, shard.ranks) ||
      shard.ranks < 1 || shard.rank < 0 || shard.rank >= shard.ranks)
    return llvm::createStringError(std::errc::invalid_argument,
                                   "--expert-shard: '%s' is not R/N with "
                                   "0 <= R < N (e.g. 1/4)",
                                   text.str().c_str());
  return shard;
}

llvm::Error checkCPUName(llvm::StringRef cpu) {
  auto described = mlir::mhmoe::describeCPU(cpu);
  return described ? llvm::Error::success() : described.takeError();
}

llvm::StringRef compilerVersion() {
  // Generated code depends on every line of the compiler, so the cache key
  // is a hash of the executable that contains it.
  static std::string version = [] {
    std::string v = "mhmoe-" MHMOE_VERSION_STRING;
    if (auto buf = llvm::MemoryBuffer::getFile("/proc/self/exe",
                                               /*IsText=*/false,
                                               /*RequiresNullTerminator=*/false))
      v += "-" + llvm::utohexstr(llvm::xxh3_64bits(
                     llvm::arrayRefFromStringRef((*buf)->getBuffer())));
    return v;
  }();
  return version;
}

llvm::Error compileModel(const ModelConfig &config,
                                const CompileOptions &opts,
                                llvm::StringRef outputPath) {
  auto ctx = makeContext();
  OwningOpRef<ModuleOp> module =
      importModel(*ctx, config, opts.weights, opts.expertShard);
  {
    DiagnosticCollector diags(*ctx);
    if (failed(mlir::verify(*module)))
      return err("internal error: the imported module does not verify:\n" +
                 diags.text);
  }
  return compileModule(*ctx, *module, opts, outputPath);
}

llvm::Error compileMLIRFile(llvm::StringRef inputPath,
                                   const CompileOptions &opts,
                                   llvm::StringRef outputPath) {
  auto ctx = makeContext();
  DiagnosticCollector diags(*ctx);
  llvm::SourceMgr sourceMgr;
  std::string errorMessage;
  auto file = openInputFile(inputPath, &errorMessage);
  if (!file)
    return llvm::createStringError(std::errc::invalid_argument, "%s",
                                   errorMessage.c_str());
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, ctx.get());
  if (!module)
    return llvm::createStringError(
        std::errc::invalid_argument, "%s",
        (inputPath + ": cannot parse:\n" + diags.text).str().c_str());
  return compileModule(*ctx, *module, opts, outputPath);
}
} // namespace mhmoe
