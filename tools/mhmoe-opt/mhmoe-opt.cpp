//===- mhmoe-opt.cpp - mlir-opt with the mhmoe dialect and passes ---------===//
#include "mhmoe/InitAll.h"
#include "mhmoe/Runtime/mhmoe_runtime.h"
#include "mhmoe/ToolSupport/VersionPrinter.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  mhmoe::addVersionPrinter();
  mlir::mhmoe::registerAllPasses();
  mlir::DialectRegistry registry;
  mlir::mhmoe::registerAllDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "mhmoe optimizer driver\n", registry));
}
