//===- FileUtil.h - Atomic file writing ------------------------*- C++ -*-===//
#ifndef MHMOE_SUPPORT_FILEUTIL_H
#define MHMOE_SUPPORT_FILEUTIL_H

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

namespace mhmoe {

/// Writes a file atomically: `write` streams the contents into a temporary
/// file created in the same directory as `path`, which is renamed onto `path`
/// only if writing (including flushing and closing) succeeded. On any failure
/// the temporary file is removed and `path` is left untouched. If `write`
/// returns an error, that error is returned.
llvm::Error
writeFileAtomically(llvm::StringRef path,
                    llvm::function_ref<llvm::Error(llvm::raw_ostream &)> write);

} // namespace mhmoe

#endif // MHMOE_SUPPORT_FILEUTIL_H
