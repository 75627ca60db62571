// RUN: mhmoe-opt %s --convert-scf-to-openmp --mhmoe-dynamic-omp-schedule | FileCheck %s

// Parallel loops over uneven tiles take them one at a time: the worksharing
// loop gets schedule(dynamic); an explicit schedule is left alone.
// CHECK-LABEL: func @tiles
// CHECK: omp.parallel
// CHECK:   omp.wsloop schedule(dynamic)
// CHECK:     omp.loop_nest
func.func @tiles(%n: index, %buf: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %f = arith.constant 1.0 : f32
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    memref.store %f, %buf[%i] : memref<?xf32>
  }
  return
}

// CHECK-LABEL: func @explicit
// CHECK: omp.wsloop schedule(static)
func.func @explicit(%n: index, %buf: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %f = arith.constant 1.0 : f32
  omp.parallel {
    omp.wsloop schedule(static) {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        memref.store %f, %buf[%i] : memref<?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  return
}
