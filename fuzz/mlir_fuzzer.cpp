//===- mlir_fuzzer.cpp - fuzz the MLIR parser + verifier on mhmoe ops -----===//
//
// The input is MLIR source text. It is parsed with the mhmoe, func, arith and
// tensor dialects registered and verified; diagnostics are swallowed. A
// module that parses and verifies is printed, and the printed form must parse
// and verify again (the custom assembly formats round-trip).
//
// The text is copied into a std::string: MLIR's lexer, like LLVM's, relies on
// a NUL byte after the buffer (parseSourceString's callers pass such strings),
// so handing it the raw fuzzer bytes reports a read one past the end inside
// libMLIR's lexer, which is not a bug in mhmoe.
//
//===----------------------------------------------------------------------===//
#include "FuzzCheck.h"

#include "mhmoe/Dialect/MHMoE/IR/MHMoEDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>

namespace {
mlir::DialectRegistry &registry() {
  static mlir::DialectRegistry *r = [] {
    auto *reg = new mlir::DialectRegistry();
    reg->insert<mlir::mhmoe::MHMoEDialect, mlir::func::FuncDialect,
                mlir::arith::ArithDialect, mlir::tensor::TensorDialect>();
    return reg;
  }();
  return *r;
}

bool parseAndVerify(const std::string &text, mlir::MLIRContext &ctx,
                    std::string *printed) {
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(text, &ctx, "fuzz.mlir");
  if (!module || mlir::failed(mlir::verify(*module)))
    return false;
  if (printed) {
    llvm::raw_string_ostream os(*printed);
    module->print(os);
  }
  return true;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  // A fresh context per input keeps runs independent (reproducible crashes).
  mlir::MLIRContext ctx(registry(), mlir::MLIRContext::Threading::DISABLED);
  ctx.allowUnregisteredDialects(false);
  mlir::ScopedDiagnosticHandler swallow(
      &ctx, [](mlir::Diagnostic &) { return mlir::success(); });
  std::string printed;
  if (!parseAndVerify(text, ctx, &printed))
    return 0;
  FUZZ_CHECK(parseAndVerify(printed, ctx, nullptr));
  return 0;
}
