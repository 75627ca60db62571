//===- SharedLibraryLinker.h - linking compiled model libraries -*- C++ -*-===//
//
// A compiled model is an object file linked by the system C compiler driver
// into a shared library. What that library records about where its
// dependencies live decides whether it still loads once the build tree is
// gone, so it records no absolute build path (docs/embedding.md):
//  * CPU: DT_NEEDED libomp.so.5; RUNPATH $ORIGIN, plus libomp's directory
//    only when the dynamic loader's default directories do not hold it.
//    With --openmp-runtime=libgomp: DT_NEEDED libMHMoEGnuOpenMP.so (which
//    needs libgomp.so.1); RUNPATH $ORIGIN, found like the CUDA runtime.
//  * CUDA: DT_NEEDED libMHMoECudaRuntime.so; RUNPATH $ORIGIN. The mhmoe
//    runtime loads its own libMHMoECudaRuntime.so before the model, so the
//    loader finds the dependency by its soname.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_COMPILER_SHAREDLIBRARYLINKER_H
#define MHMOE_LIB_COMPILER_SHAREDLIBRARYLINKER_H

#include "mhmoe/Compiler/Compiler.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace mhmoe {

/// Points MLIR's NVVM serialisation at a CUDA toolkit (ptxas, libdevice), or
/// fails with a message saying how to provide one.
llvm::Error prepareCudaToolkit();

/// Links `objPath` into the shared library `outPath` for `target`, a CPU
/// library against `openMP`.
llvm::Error linkSharedLibrary(llvm::StringRef objPath, llvm::StringRef outPath,
                              Target target, OpenMPRuntime openMP);

} // namespace mhmoe

#endif
