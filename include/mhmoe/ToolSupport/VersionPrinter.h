//===- VersionPrinter.h - the tools' --version line --------------*- C++ -*-===//
#ifndef MHMOE_TOOLSUPPORT_VERSIONPRINTER_H
#define MHMOE_TOOLSUPPORT_VERSIONPRINTER_H

#include "mhmoe/Runtime/mhmoe_runtime.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

namespace mhmoe {

/// Makes --version print "mhmoe X (compiled-library ABI N)" after LLVM's
/// version (header-only: mhmoe-opt links no ToolSupport).
inline void addVersionPrinter() {
  llvm::cl::AddExtraVersionPrinter([](llvm::raw_ostream &os) {
    os << "mhmoe " MHMOE_VERSION_STRING " (compiled-library ABI "
       << MHMOE_LIBRARY_ABI_VERSION << ")\n";
  });
}

} // namespace mhmoe

#endif
