// RUN: mhmoe-opt %s --mhmoe-gpu-kernel-pipeline | FileCheck %s --check-prefix=KERNEL
// RUN: mhmoe-opt %s --mhmoe-gpu-pipeline="gpu-chip=sm_80 gpu-format=isa" | FileCheck %s --check-prefix=PTX80
// RUN: mhmoe-opt %s --mhmoe-gpu-pipeline="gpu-chip=sm_90 gpu-format=isa" | FileCheck %s --check-prefix=PTX90
// RUN: mhmoe-opt %s --mhmoe-gpu-pipeline="emulate=true" | FileCheck %s --check-prefix=EMU
// gpu-math and gpu-format are typed: a value outside the list is rejected
// when the pipeline is parsed.
// RUN: mhmoe-opt %s --mhmoe-gpu-kernel-pipeline | FileCheck %s --check-prefix=MMA
// RUN: mhmoe-opt %s --mhmoe-gpu-kernel-pipeline="gpu-math=simt" | FileCheck %s --check-prefix=SIMT
// RUN: not mhmoe-opt %s --mhmoe-gpu-pipeline="gpu-math=fp16" 2>&1 | FileCheck %s --check-prefix=BADMATH
// RUN: not mhmoe-opt %s --pass-pipeline="builtin.module(mhmoe-gpu-pipeline{gpu-format=elf})" 2>&1 | FileCheck %s --check-prefix=BADFORMAT

// Kernel half: every computation is a gpu.launch; host code only allocates,
// computes launch sizes and copies results; the manifest says cuda.
// KERNEL-NOT: mhmoe.{{(layer|route|expert_apply|head_split|merge|expert_load) }}
// KERNEL-NOT: linalg.
// KERNEL-LABEL: func.func @mhmoe_forward(%{{.*}}: !llvm.ptr, %{{.*}}: i64) -> i32
// KERNEL-COUNT-2: gpu.launch
// Routing: one thread per sub-token; capacity: one serial kernel.
// KERNEL: memref.alloca() : memref<8xf32>
// KERNEL: math.ceil
// KERNEL: memref.copy
// KERNEL: llvm.mlir.global internal constant @mhmoe_manifest_text({{.*}}\22target\22:\22cuda\22

// Full pipeline: all kernels in one gpu.module, serialised into one
// gpu.binary for the requested chip with PTX ISA 8.0 (one PTX module), host
// code in the LLVM dialect launching them.
// PTX80: llvm.func @mhmoe_forward(%{{.*}}: !llvm.ptr, %{{.*}}: i64) -> i32
// All launches on the call's one stream (gpu-async-region).
// PTX80: gpu.launch_func <%{{.*}} : !llvm.ptr> @mhmoe_kernels::@mhmoe_forward_kernel{{ }}
// PTX80: gpu.launch_func <%{{.*}} : !llvm.ptr> @mhmoe_kernels::@mhmoe_forward_kernel_0{{ }}
// PTX80-COUNT-1: gpu.binary @mhmoe_kernels {{.*}}#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">{{.*}}.version 8.0\0A.target sm_80
// PTX80-NOT: gpu.binary
// PTX90-COUNT-1: gpu.binary @mhmoe_kernels {{.*}}#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">{{.*}}.target sm_90
// PTX90-NOT: gpu.binary
// PTX90-NOT: gpu.launch {{.*}}blocks

// Emulation: no GPU op is left; the kernels are OpenMP loops on the CPU and
// the manifest says cpu.
// EMU-NOT: gpu.
// EMU: llvm.func @mhmoe_forward
// EMU: omp.parallel
// EMU: \22target\22:\22cpu\22

// MMA: nvgpu.mma.sync
// SIMT-NOT: nvgpu.mma.sync
// SIMT-LABEL: func.func @mhmoe_forward
// SIMT-NOT: nvgpu.mma.sync
// BADMATH: for the --gpu-math option: Cannot find option named 'fp16'!
// BADFORMAT: for the --gpu-format option: Cannot find option named 'elf'!
// BADFORMAT: error: failed to add `mhmoe-gpu-pipeline` with options `gpu-format=elf`

module attributes {mhmoe.config = "{}"} {
func.func @forward(%x: tensor<?x64xf32> {mhmoe.name = "input", bufferization.writable = false},
                   %nw: tensor<64xf32> {mhmoe.name = "norm", bufferization.writable = false},
                   %hw: tensor<64x64xf32> {mhmoe.name = "hw", bufferization.writable = false},
                   %hb: tensor<64xf32> {mhmoe.name = "hb", bufferization.writable = false},
                   %g: tensor<8x32xf32> {mhmoe.name = "g", bufferization.writable = false},
                   %w1: tensor<8x16x32xf32> {mhmoe.name = "w1", bufferization.writable = false},
                   %w2: tensor<8x32x16xf32> {mhmoe.name = "w2", bufferization.writable = false},
                   %w3: tensor<8x16x32xf32> {mhmoe.name = "w3", bufferization.writable = false},
                   %ow: tensor<64x64xf32> {mhmoe.name = "ow", bufferization.writable = false},
                   %ob: tensor<64xf32> {mhmoe.name = "ob", bufferization.writable = false})
    -> (tensor<?x64xf32> {mhmoe.name = "output"}, tensor<8xi64> {mhmoe.name = "load"}) {
  %y, %l = mhmoe.layer %x heads(2) top_k(2) capacity_factor(1.5) activation(swiglu)
      head(%hw, %hb : tensor<64x64xf32>, tensor<64xf32>) gate(%g : tensor<8x32xf32>)
      fc1(%w1 : tensor<8x16x32xf32>) fc2(%w2 : tensor<8x32x16xf32>) fc3(%w3 : tensor<8x16x32xf32>)
      out(%ow, %ob : tensor<64x64xf32>, tensor<64xf32>) : tensor<?x64xf32> -> tensor<?x64xf32>, tensor<8xi64>
  %c0 = arith.constant 0 : index
  %c = tensor.dim %x, %c0 : tensor<?x64xf32>
  %e = tensor.empty(%c) : tensor<?x64xf32>
  %r = linalg.add ins(%x, %y : tensor<?x64xf32>, tensor<?x64xf32>) outs(%e : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %r, %l : tensor<?x64xf32>, tensor<8xi64>
}
}
