//===- SharedLibraryLinker.cpp - linking compiled model libraries ---------===//
#include "SharedLibraryLinker.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

#include <cstdlib>
#include <optional>

namespace mhmoe {

namespace {

llvm::Error err(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// The RUNPATH entry a CPU model needs for libomp: none when the dynamic
/// loader's default directories hold libomp.so.5 (Debian's libomp5-NN
/// packages put it there), else the directory LLVM's libomp is in (a system
/// location, never the build tree).
std::optional<std::string> openMPRunpath() {
  for (const char *dir : {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                          "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                          "/lib64", "/usr/lib64", "/lib", "/usr/lib"}) {
    llvm::SmallString<128> p(dir);
    llvm::sys::path::append(p, "libomp.so.5");
    if (llvm::sys::fs::exists(p))
      return std::nullopt;
  }
  return std::string(MHMOE_OPENMP_LIBRARY_DIR);
}

/// Directory of `library` (a runtime library of this project that models
/// link against: libMHMoECudaRuntime.so, libMHMoEGnuOpenMP.so): $`envVar`,
/// else <dir of this executable>/../lib (the build and install trees), else
/// the install prefix this compiler was configured with. No build-tree path
/// is compiled in.
llvm::Expected<std::string> projectLibraryDir(llvm::StringRef library,
                                              const char *envVar) {
  auto has = [&](llvm::StringRef dir) {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, library);
    return llvm::sys::fs::exists(p);
  };
  if (const char *env = std::getenv(envVar)) {
    if (has(env))
      return std::string(env);
    return err(llvm::Twine(envVar) + "=" + env + " does not contain " +
               library);
  }
  llvm::SmallString<256> exe;
  if (!llvm::sys::fs::real_path("/proc/self/exe", exe)) {
    llvm::SmallString<256> dir = llvm::sys::path::parent_path(
        llvm::sys::path::parent_path(exe));
    llvm::sys::path::append(dir, "lib");
    if (has(dir))
      return std::string(dir);
  }
  if (has(MHMOE_INSTALL_LIBRARY_DIR))
    return std::string(MHMOE_INSTALL_LIBRARY_DIR);
  return err("cannot find " + library +
             " (looked in ../lib beside this executable and in "
             MHMOE_INSTALL_LIBRARY_DIR "; set " + envVar + ")");
}

/// The linker arguments of a CPU library's OpenMP runtime.
llvm::Error appendOpenMPRuntime(OpenMPRuntime openMP,
                                llvm::SmallVectorImpl<std::string> &argv) {
  if (openMP == OpenMPRuntime::LibGomp) {
    // The model's __kmpc_* calls bind to libMHMoEGnuOpenMP's versioned
    // definitions, which run them on libgomp's team.
    auto dir = projectLibraryDir("libMHMoEGnuOpenMP.so", "MHMOE_GNU_OPENMP_DIR");
    if (!dir)
      return dir.takeError();
    argv.append({"-L" + *dir, "-lMHMoEGnuOpenMP"});
    return llvm::Error::success();
  }
  argv.append({"-L" MHMOE_OPENMP_LIBRARY_DIR, "-lomp"});
  if (std::optional<std::string> runpath = openMPRunpath())
    argv.push_back("-Wl,-rpath," + *runpath);
  return llvm::Error::success();
}

/// The CUDA toolkit (ptxas, nvvm/libdevice): $CUDA_ROOT / $CUDA_HOME /
/// $CUDA_PATH, else the parent of the `ptxas` on PATH, else /usr/local/cuda.
std::optional<std::string> findCudaToolkit() {
  auto valid = [](llvm::StringRef dir) {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, "bin", "ptxas");
    return llvm::sys::fs::can_execute(p);
  };
  for (const char *var : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"})
    if (const char *v = std::getenv(var); v && valid(v))
      return std::string(v);
  if (llvm::ErrorOr<std::string> ptxas = llvm::sys::findProgramByName("ptxas")) {
    llvm::StringRef dir =
        llvm::sys::path::parent_path(llvm::sys::path::parent_path(*ptxas));
    if (valid(dir))
      return dir.str();
  }
  if (valid("/usr/local/cuda"))
    return std::string("/usr/local/cuda");
  return std::nullopt;
}

/// MLIR's NVVM serialisation finds ptxas and libdevice through
/// NVVM::getCUDAToolkitPath(), which reads $CUDA_ROOT; without libdevice
/// the kernels' math calls would stay unresolved.
} // namespace

llvm::Error prepareCudaToolkit() {
  std::optional<std::string> dir = findCudaToolkit();
  if (!dir)
    return err("--target=cuda needs the CUDA toolkit (ptxas and "
               "nvvm/libdevice) and none was found: set CUDA_ROOT, or put "
               "ptxas on PATH");
  if (!std::getenv("CUDA_ROOT"))
    ::setenv("CUDA_ROOT", dir->c_str(), /*overwrite=*/0);
  return llvm::Error::success();
}

llvm::Error linkSharedLibrary(llvm::StringRef objPath, llvm::StringRef outPath,
                              Target target, OpenMPRuntime openMP) {
  llvm::ErrorOr<std::string> cc = llvm::sys::findProgramByName("cc");
  if (!cc)
    cc = llvm::sys::findProgramByName("gcc");
  if (!cc)
    cc = llvm::sys::findProgramByName("clang");
  if (!cc)
    return err("no C compiler driver (cc, gcc or clang) on PATH to link the "
               "shared library");
  llvm::SmallVector<std::string> argv = {*cc, "-shared", "-o", outPath.str(),
                                         objPath.str()};
  // $ORIGIN: a dependency shipped beside the model library is found there.
  argv.push_back("-Wl,-rpath,$ORIGIN");
  if (target == Target::CUDA) {
    // Kernel launches go through the project's CUDA runtime (the driver
    // itself is dlopen'd by it at run time).
    auto dir = projectLibraryDir("libMHMoECudaRuntime.so",
                                 "MHMOE_CUDA_RUNTIME_DIR");
    if (!dir)
      return dir.takeError();
    argv.append({"-L" + *dir, "-lMHMoECudaRuntime"});
  } else if (llvm::Error e = appendOpenMPRuntime(openMP, argv)) {
    return e;
  }
  argv.append({"-lm", "-Wl,-z,defs", "-Wl,--gc-sections"});
  llvm::SmallVector<llvm::StringRef> args(argv.begin(), argv.end());
  // The linker's log lies beside its output (a ".mhmoe-tmp-" name that the
  // cache sweeps if this process is killed), not in /tmp.
  llvm::SmallString<256> errFile(outPath);
  errFile += ".log";
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, errFile.str(),
                                                errFile.str()};
  std::string execErr;
  int rc = llvm::sys::ExecuteAndWait(*cc, args, std::nullopt, redirects, 0, 0,
                                     &execErr);
  std::string log;
  if (auto buf = llvm::MemoryBuffer::getFile(errFile))
    log = (*buf)->getBuffer().str();
  llvm::sys::fs::remove(errFile);
  if (rc != 0)
    return err("linking the shared library failed (" + *cc + "): " +
               (execErr.empty() ? log : execErr));
  return llvm::Error::success();
}

} // namespace mhmoe
