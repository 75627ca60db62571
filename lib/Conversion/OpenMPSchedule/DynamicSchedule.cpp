//===- DynamicSchedule.cpp - dynamic OpenMP schedules for uneven tiles ----===//
//
// convert-scf-to-openmp emits `omp.wsloop` with the default (static)
// schedule, which hands each thread an equal share of iterations. The
// grouped-GEMM tiles are not equal (experts get different numbers of rows,
// the last tile of each expert is partial), so a static split leaves one
// thread idle while the other finishes. Each iteration here is a large tile
// (tens of microseconds), so taking tiles one at a time costs nothing.
//
//===----------------------------------------------------------------------===//
#include "mhmoe/Conversion/Passes.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"

namespace mlir::mhmoe {
#define GEN_PASS_DEF_MHMOEDYNAMICOMPSCHEDULE
#include "mhmoe/Conversion/Passes.h.inc"
} // namespace mlir::mhmoe

using namespace mlir;

namespace {
struct MHMoEDynamicOMPSchedulePass
    : mhmoe::impl::MHMoEDynamicOMPScheduleBase<MHMoEDynamicOMPSchedulePass> {
  void runOnOperation() override {
    getOperation()->walk([](omp::WsloopOp loop) {
      if (!loop.getScheduleKind())
        loop.setScheduleKind(omp::ClauseScheduleKind::Dynamic);
    });
  }
};
} // namespace
