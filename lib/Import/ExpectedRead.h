//===- ExpectedRead.h - early return on a failed Expected -------*- C++ -*-===//
//
// Private to lib/Import: the importer reads many config keys and tensors, each
// an llvm::Expected; MHMOE_READ names the value or returns the error.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_LIB_IMPORT_EXPECTEDREAD_H
#define MHMOE_LIB_IMPORT_EXPECTEDREAD_H

#include <utility>

#define MHMOE_READ(var, expr)                                                  \
  auto var##OrErr = (expr);                                                    \
  if (!var##OrErr)                                                             \
    return var##OrErr.takeError();                                             \
  auto var = std::move(*var##OrErr)

#endif
