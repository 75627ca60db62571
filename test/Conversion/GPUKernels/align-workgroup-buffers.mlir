// RUN: mhmoe-opt %s --mhmoe-align-workgroup-buffers | FileCheck %s

// Every shared-memory buffer of an outlined kernel is marked 16-byte
// aligned (the GEMM tiles are staged with 16-byte vector stores); private
// buffers and kernel arguments are left alone.
// CHECK-LABEL: gpu.func @tile
// CHECK-SAME: workgroup(%{{.*}} : memref<64x36xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<32x36xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: private(%{{.*}} : memref<4xf32, #gpu.address_space<private>>)
// CHECK-SAME: kernel
gpu.module @kernels {
  gpu.func @tile(%out: memref<4xf32>)
      workgroup(%a : memref<64x36xf32, #gpu.address_space<workgroup>>,
                %b : memref<32x36xf32, #gpu.address_space<workgroup>>)
      private(%p : memref<4xf32, #gpu.address_space<private>>) kernel {
    gpu.return
  }
}
