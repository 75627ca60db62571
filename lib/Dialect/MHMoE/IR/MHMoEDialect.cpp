//===- MHMoEDialect.cpp - mhmoe dialect registration ----------------------===//
#include "mhmoe/Dialect/MHMoE/IR/MHMoEDialect.h"
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/JSON.h"

#include <string>

using namespace mlir;
using namespace mlir::mhmoe;

#include "mhmoe/Dialect/MHMoE/IR/MHMoEOpsDialect.cpp.inc"

void MHMoEDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "mhmoe/Dialect/MHMoE/IR/MHMoEOps.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Discardable attributes
//===----------------------------------------------------------------------===//

namespace {
constexpr llvm::StringLiteral kModuleAttrs[] = {kConfigAttr, kCpuTargetAttr,
                                                kExpertShardAttr};
constexpr llvm::StringLiteral kArgAttrs[] = {kNameAttr, kPackedFromAttr,
                                             kPackedByAttr, kPackedArgAttr,
                                             kExpertSliceAttr};

/// A `[a, b]` pair of integers with 0 <= a and (strict ? a < b : 0 <= b).
bool isPair(Attribute value, bool strict) {
  auto a = dyn_cast<DenseI64ArrayAttr>(value);
  if (!a || a.size() != 2 || a[0] < 0 || a[1] < 0)
    return false;
  return !strict || a[0] < a[1];
}

/// "'mhmoe.x' is not an attribute of <where> (expected one of: ...)".
LogicalResult unknownAttr(Operation *op, StringRef name, StringRef where,
                          ArrayRef<llvm::StringLiteral> known) {
  return op->emitOpError() << "'" << name << "' is not an mhmoe attribute of "
                           << where << " (expected one of: "
                           << llvm::join(known, ", ") << ")";
}

/// The function-argument / result attributes: a name, and for packed
/// weights where they come from.
LogicalResult verifyValueAttr(Operation *op, NamedAttribute attr,
                              StringRef where, bool isArg) {
  StringRef name = attr.getName().getValue();
  Attribute value = attr.getValue();
  if (name == kNameAttr) {
    auto s = dyn_cast<StringAttr>(value);
    if (!s || s.getValue().empty())
      return op->emitOpError()
             << "'" << name << "' of " << where
             << " must be a non-empty string (the tensor's name)";
    return success();
  }
  if (!isArg)
    return unknownAttr(op, name, where, kArgAttrs[0]);
  if (name == kPackedFromAttr && !isa<StringAttr>(value))
    return op->emitOpError() << "'" << name << "' of " << where
                             << " must be a string (the raw weight's name)";
  if (name == kPackedByAttr && !isa<FlatSymbolRefAttr>(value))
    return op->emitOpError() << "'" << name << "' of " << where
                             << " must be a symbol reference (the packer)";
  if (name == kExpertSliceAttr && !isPair(value, /*strict=*/false))
    return op->emitOpError() << "'" << name << "' of " << where
                             << " must be array<i64: first, count> with "
                                "both >= 0 (the rank's experts)";
  if (name == kPackedArgAttr) {
    auto i = dyn_cast<IntegerAttr>(value);
    if (!i || i.getValue().isNegative())
      return op->emitOpError()
             << "'" << name << "' of " << where
             << " must be a non-negative integer (the packer's argument)";
  }
  if (!llvm::is_contained(kArgAttrs, name))
    return unknownAttr(op, name, where, kArgAttrs);
  return success();
}
} // namespace

LogicalResult MHMoEDialect::verifyOperationAttribute(Operation *op,
                                                     NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kHostBufferAttr) {
    if (!isa<UnitAttr>(attr.getValue()) || op->getName().getStringRef() != "memref.alloc")
      return op->emitOpError() << "'" << name
                               << "' is a unit attribute of memref.alloc";
    return success();
  }
  if (!llvm::is_contained(kModuleAttrs, name))
    return unknownAttr(op, name, "an operation", kModuleAttrs);
  if (!isa<ModuleOp>(op))
    return op->emitOpError() << "'" << name << "' belongs on a builtin.module";
  if (name == ConfigAttrHelper::getNameStr()) {
    auto text = dyn_cast<StringAttr>(attr.getValue());
    if (!text)
      return op->emitOpError() << "'" << name
                               << "' must be a string holding the model's "
                                  "JSON config";
    if (llvm::Expected<llvm::json::Value> v =
            llvm::json::parse(text.getValue());
        !v || !v->getAsObject()) {
      if (!v)
        llvm::consumeError(v.takeError());
      return op->emitOpError() << "'" << name << "' is not a JSON object";
    }
    return success();
  }
  if (name == kExpertShardAttr) {
    if (!isPair(attr.getValue(), /*strict=*/true))
      return op->emitOpError() << "'" << name
                               << "' must be array<i64: rank, ranks> with "
                                  "0 <= rank < ranks";
    return success();
  }
  // The fields are checked where they are read (verifyCPUTarget), one layer
  // up; the dialect checks the form.
  if (!isa<DictionaryAttr>(attr.getValue()))
    return op->emitOpError() << "'" << name
                             << "' must be a dictionary (the CPU target "
                                "description)";
  return success();
}

LogicalResult MHMoEDialect::verifyRegionArgAttribute(Operation *op,
                                                     unsigned region,
                                                     unsigned arg,
                                                     NamedAttribute attr) {
  return verifyValueAttr(op, attr, "argument " + std::to_string(arg),
                         /*isArg=*/true);
}

LogicalResult MHMoEDialect::verifyRegionResultAttribute(Operation *op,
                                                        unsigned region,
                                                        unsigned result,
                                                        NamedAttribute attr) {
  return verifyValueAttr(op, attr, "result " + std::to_string(result),
                         /*isArg=*/false);
}
