//===- mhmoe-opt.cpp - mlir-opt with the mhmoe dialect and passes ---------===//
#include "mhmoe/InitAll.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::mhmoe::registerAllPasses();
  mlir::DialectRegistry registry;
  mlir::mhmoe::registerAllDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "mhmoe optimizer driver\n", registry));
}
