//===- Passes.td - mhmoe conversion passes -----------------*- tablegen -*-===//
#ifndef MHMOE_CONVERSION_PASSES_TD
#define MHMOE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// MHMoEToTensor
//===----------------------------------------------------------------------===//

def ConvertMHMoEReshapeToTensor : Pass<"convert-mhmoe-reshape-to-tensor"> {
  let summary = "Lower head_split / merge to zero-copy tensor reshapes";
  let description = [{
    `mhmoe.head_split` becomes `tensor.expand_shape` `[N, D] -> [N, h, d]`
    followed by `tensor.collapse_shape` `[N, h, d] -> [N*h, d]`, and
    `mhmoe.merge` the reverse. Both bufferize to views of the projection
    GEMM's buffer, so splitting and merging cost no copy: the GEMMs index the
    same memory as tokens or as sub-tokens.
  }];
  let dependentDialects = ["mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
}

def ConvertMHMoEDequantizeToLinalg
    : Pass<"convert-mhmoe-dequantize-to-linalg"> {
  let summary = "Compute the f32 weights of mhmoe.dequantize ops no kernel fused";
  let description = [{
    The CPU expert and projection lowerings read the int8 `values` of a
    `mhmoe.dequantize` and scale in their epilogues, leaving the op unused;
    this pass erases such ops and turns any other into a `linalg.generic`
    computing `f32(values) * scale` (the f32 weight is then materialised
    per call: correct, not fast).

    Example:
    ```mlir
    %w = mhmoe.dequantize %q scale(%s) : tensor<8x4xi8>, tensor<8xf32> -> tensor<8x4xf32>
    // becomes
    %w = linalg.generic {indexing_maps = [(d0, d1) -> (d0, d1), (d0, d1) -> (d0),
                                          (d0, d1) -> (d0, d1)], ...}
        ins(%q, %s : tensor<8x4xi8>, tensor<8xf32>) outs(%e : tensor<8x4xf32>)
    ```
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::tensor::TensorDialect"];
}

//===----------------------------------------------------------------------===//
// MHMoEToSCF
//===----------------------------------------------------------------------===//

def ConvertMHMoERouteToSCF : Pass<"convert-mhmoe-route-to-scf"> {
  let summary = "Lower mhmoe.route to one fused parallel loop over sub-tokens";
  let description = [{
    Per block of sub-tokens, in one `scf.parallel` iteration: the block's
    gate logits, as one broadcast-FMA GEMM on the gate packed into panels of
    experts when the target's lanes divide E (else a register-tiled GEMV per
    sub-token), into a [block, E] scratch; then per sub-token, in vectors of
    the target's lanes (the E % lanes tail masked), softmax statistics or
    sigmoid scores, top-k by a per-lane arg-max (ties to the lower expert
    index) and renormalisation; no [S, E] buffer exists. With a capacity factor, a sequential pass over the [S, k]
    choices (first choices first) drops choices over capacity. Also lowers
    `mhmoe.expert_load` to a histogram loop.
  }];
  let dependentDialects = ["mlir::scf::SCFDialect", "mlir::memref::MemRefDialect",
                           "mlir::vector::VectorDialect", "mlir::math::MathDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::bufferization::BufferizationDialect"];
}

def ConvertMHMoEExpertApplyToSCF : Pass<"convert-mhmoe-expert-apply-to-scf"> {
  let summary = "Lower mhmoe.expert_apply to a dropless grouped GEMM";
  let description = [{
    Counting sort of (sub-token, choice) pairs by expert (histogram, prefix
    sum, stable permutation), a tile table over (expert, row block), and one
    `scf.parallel` over tiles running two register-tiled GEMMs: the gather
    feeds the first GEMM's A operand (fc1 and fc3 share each loaded A vector
    for SwiGLU) with bias and activation in its epilogue; the second GEMM's
    epilogue adds the bias, applies the combine weight and scatters the row
    to the pair's slot. A parallel combine sums each sub-token's k slots in
    choice order, so results are bit-identical for any thread count.
  }];
  let options = [
    Option<"matmulPrecision", "matmul-precision", "mlir::mhmoe::MatmulPrecision",
           /*default=*/"mlir::mhmoe::MatmulPrecision::F32",
           "What the expert GEMMs multiply in: f32, or bf16 (bf16 weights "
           "times activations rounded to bf16, by x86vector.avx512.dot where "
           "the target has bf16 dot products; f32 elsewhere)",
           [{mlir::mhmoe::matmulPrecisionValues()}]>
  ];
  let dependentDialects = ["mlir::scf::SCFDialect", "mlir::memref::MemRefDialect",
                           "mlir::vector::VectorDialect", "mlir::math::MathDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::bufferization::BufferizationDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::x86vector::X86VectorDialect"];
}

def ConvertMHMoEExchangeToSCF
    : Pass<"convert-mhmoe-exchange-to-scf", "mlir::ModuleOp"> {
  let summary = "Lower mhmoe.dispatch/mhmoe.combine to loops and communicator calls";
  let description = [{
    `mhmoe.dispatch`: the send layout (each kept (sub-token, choice) pair's
    slot, grouped by the rank holding its expert), the send rows
    `[sub-token | weight | expert as i32 bits]`, then
    `func.call @__mhmoe_exchange_counts(send_counts, recv_counts)` and
    `func.call @__mhmoe_exchange_rows(send, send_counts, recv, recv_counts,
    row_bytes)` (pointers as i64), and the received rows unpacked into the
    local `expert_apply`'s operands. `mhmoe.combine`: the same layout from the
    same routing, the reverse row exchange, and a parallel sum of each
    sub-token's returned rows in choice order. The two functions are
    declared private here and defined by `mhmoe-communicator-hooks`.

    ```mlir
    %r = func.call @__mhmoe_exchange_rows(%send, %sc, %recv, %rc, %c1544)
        : (i64, i64, i64, i64, i64) -> i32
    ```
  }];
  let dependentDialects = ["mlir::scf::SCFDialect", "mlir::memref::MemRefDialect",
                           "mlir::vector::VectorDialect", "mlir::func::FuncDialect",
                           "mlir::math::MathDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::bufferization::BufferizationDialect"];
}

//===----------------------------------------------------------------------===//
// LinalgToTiledGemm
//===----------------------------------------------------------------------===//

def MHMoELowerProjectionGemm : Pass<"mhmoe-lower-projection-gemm"> {
  let summary = "Lower transposed-B linalg.matmul to tiled GEMM loops";
  let description = [{
    On tensors, a matmul accumulating into a broadcast bias whose width is a
    multiple of 8 becomes a broadcast-FMA GEMM over the weight packed into
    column panels (`linalg.pack`, hoisted to load time by
    mhmoe-hoist-weight-packing), with the bias added in the vector epilogue.
    On buffers (the fallback):
    Rewrites `linalg.matmul` with transposed-B indexing maps on f32 buffers
    (the head and merge projections) into an `scf.parallel` over (row block,
    column block) tiles of a register-tiled vector GEMM that accumulates
    into the output (which holds the broadcast bias).
    With matmul-precision=bf16, a bf16 weight on a target with bf16 dot
    products is packed into pair panels and each tile's rows are rounded to
    bf16 pairs once, for `x86vector.avx512.dot`.
  }];
  let options = [
    Option<"matmulPrecision", "matmul-precision", "mlir::mhmoe::MatmulPrecision",
           /*default=*/"mlir::mhmoe::MatmulPrecision::F32",
           "What the packed projections multiply in: f32, or bf16 (bf16 "
           "weights times rows rounded to bf16, where the target has bf16 "
           "dot products)",
           [{mlir::mhmoe::matmulPrecisionValues()}]>
  ];
  let dependentDialects = ["mlir::scf::SCFDialect", "mlir::memref::MemRefDialect",
                           "mlir::vector::VectorDialect", "mlir::math::MathDialect",
                           "mlir::arith::ArithDialect", "mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect",
                           "mlir::bufferization::BufferizationDialect",
                           "mlir::x86vector::X86VectorDialect"];
}

//===----------------------------------------------------------------------===//
// MathToPolynomial
//===----------------------------------------------------------------------===//

def MHMoEApproximateMath : Pass<"mhmoe-approximate-math"> {
  let summary = "Replace math.exp and math.erf by inline polynomial approximations";
  let description = [{
    Keeps vectorised activation epilogues (SiLU, GELU) and the router's
    softmax in registers instead of per-lane libm calls.
  }];
  let dependentDialects = ["mlir::math::MathDialect", "mlir::arith::ArithDialect",
                           "mlir::vector::VectorDialect"];
}

//===----------------------------------------------------------------------===//
// WeightPacking
//===----------------------------------------------------------------------===//

def MHMoEHoistWeightPacking : Pass<"mhmoe-hoist-weight-packing", "mlir::ModuleOp"> {
  let summary = "Move linalg.pack of weights out of the model into a load-time function";
  let description = [{
    Every `linalg.pack` of a function argument moves to the callers of a
    private function (which gains the packed tensor as an argument), and
    from the model function into `@mhmoe_pack_weights`, whose results
    become new model arguments named `<weight>.packedN` with a
    `mhmoe.packed_from` attribute. The packs there are lowered to
    reshape + transpose. Runtimes call the packing once per model load.
  }];
  let options = [
    Option<"funcName", "func", "std::string", /*default=*/"\"forward\"",
           "The model function">
  ];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::func::FuncDialect"];
}

def MHMoELowerWeightPacking : Pass<"mhmoe-lower-weight-packing"> {
  let summary = "Lower every linalg.pack in place to pad, reshape and transpose";
  let description = [{
    The alternative to `mhmoe-hoist-weight-packing` when no C ABI is
    generated: the kernels' packed weight layouts are computed inside the
    function that asked for them (`tensor.pad` where a tile is partial,
    `tensor.expand_shape`, `linalg.transpose`), so the model function keeps
    the signature of its input and the result bufferizes with upstream
    One-Shot Bufferize (which has no bufferization of `linalg.pack`). The
    packing then runs on every call instead of once at load.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect"];
}

//===----------------------------------------------------------------------===//
// BuffersToEntryPoint
//===----------------------------------------------------------------------===//

def MHMoEDeallocateBuffers : Pass<"mhmoe-deallocate-buffers", "mlir::ModuleOp"> {
  let summary = "Free each top-level buffer after its last use";
  let description = [{
    After bufferization the model functions are straight-line code at their
    top level. Each buffer owned there (a `memref.alloc`, or a buffer
    returned by a call to a function whose results are fresh allocations)
    that is not returned gets a `memref.dealloc` right after the last
    top-level operation using it or any view of it, which bounds peak
    memory to about one layer's buffers.
  }];
  let dependentDialects = ["mlir::memref::MemRefDialect"];
}

def MHMoELeaveDeallocation : Pass<"mhmoe-leave-deallocation"> {
  let summary = "Remove the lowerings' memref.dealloc ops, for upstream deallocation";
  let description = [{
    The route and expert lowerings free their scratch buffers themselves;
    upstream `ownership-based-buffer-deallocation` refuses IR that already
    has `memref.dealloc` ops. At the tensor stop of the CPU pipeline this
    pass removes them, so the pipeline that takes over deallocates every
    buffer the usual way (One-Shot Bufferize, then
    `ownership-based-buffer-deallocation`), scratch included.
  }];
}

def MHMoEGenerateEntryPoint : Pass<"mhmoe-generate-entry-point", "mlir::ModuleOp"> {
  let summary = "Generate the mhmoe_forward / mhmoe_manifest C ABI";
  let description = [{
    Adds `int32_t mhmoe_forward(void **argv, int64_t num_tokens)`, which
    builds a memref descriptor for each argument and result of the model
    function from argv (inputs, then outputs), calls it, and copies the
    results into the caller's buffers; and `const char *mhmoe_manifest()`
    returning the JSON manifest built from the function's `mhmoe.name`
    argument/result attributes and the module's `mhmoe.config` attribute.
    See docs/compiled-library-abi.md.
  }];
  let options = [
    Option<"funcName", "func", "std::string", /*default=*/"\"forward\"",
           "The model function to expose">,
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"",
           "Where the library's buffers live, recorded in the manifest "
           "(cpu or cuda: argv then holds device pointers)">,
    Option<"matmulPrecision", "matmul-precision", "mlir::mhmoe::MatmulPrecision",
           /*default=*/"mlir::mhmoe::MatmulPrecision::F32",
           "The matmul precision the kernels were lowered with, recorded in a "
           "CPU library's manifest",
           [{mlir::mhmoe::matmulPrecisionValues()}]>
  ];
  let dependentDialects = ["mlir::LLVM::LLVMDialect", "mlir::memref::MemRefDialect",
                           "mlir::func::FuncDialect", "mlir::arith::ArithDialect"];
}

def MHMoEWorkspaceAllocationHooks
    : Pass<"mhmoe-workspace-allocation-hooks", "mlir::ModuleOp"> {
  let summary = "Route the model's buffer allocations through runtime hooks";
  let description = [{
    Defines, with internal linkage, the generic allocation functions that
    `finalize-memref-to-llvm{use-generic-functions=1}` calls
    (`_mlir_memref_to_llvm_alloc`, `_mlir_memref_to_llvm_aligned_alloc`,
    `_mlir_memref_to_llvm_free`) and an exported
    `void mhmoe_set_allocator(alloc, free, ctx)`. Until the runtime installs
    hooks they call `aligned_alloc` and `free`; with hooks (the runtime's
    workspace cache) a forward's large buffers are reused across calls
    instead of being mapped and page-faulted anew each time. See
    docs/compiled-library-abi.md.

    ```mlir
    llvm.func internal @_mlir_memref_to_llvm_aligned_alloc(%align: i64, %size: i64) -> !llvm.ptr
    llvm.func @mhmoe_set_allocator(%alloc: !llvm.ptr, %free: !llvm.ptr, %ctx: !llvm.ptr)
    ```
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect"];
}

def MHMoECommunicatorHooks
    : Pass<"mhmoe-communicator-hooks", "mlir::ModuleOp"> {
  let summary = "Route the exchange calls through the runtime's communicator";
  let description = [{
    Runs on the LLVM dialect. When the module declares
    `__mhmoe_exchange_counts` / `__mhmoe_exchange_rows` (an expert-parallel
    model), defines them with internal linkage: each loads the function the
    runtime installed through the exported
    `void mhmoe_set_communicator(ctx, counts_fn, rows_fn)` and calls it with
    `ctx` and its arguments as pointers (the row size stays `i64`), or returns
    -1 when none is installed. The library so needs no MPI symbol. See
    docs/distributed.md.

    ```mlir
    llvm.func internal @__mhmoe_exchange_counts(%send: i64, %recv: i64) -> i32
    llvm.func @mhmoe_set_communicator(%ctx: !llvm.ptr, %counts: !llvm.ptr, %rows: !llvm.ptr)
    ```
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect"];
}

def MHMoEDynamicOMPSchedule : Pass<"mhmoe-dynamic-omp-schedule"> {
  let summary = "Give OpenMP worksharing loops a dynamic schedule";
  let description = [{
    Sets `schedule(dynamic)` on every `omp.wsloop` without an explicit
    schedule. The parallel loops of the mhmoe CPU lowering iterate over
    large tiles of uneven cost (grouped-GEMM tiles of different experts,
    partial last tiles), which a static split balances poorly across cores.
  }];
  let dependentDialects = ["mlir::omp::OpenMPDialect"];
}

//===----------------------------------------------------------------------===//
// MHMoEToGPU, LinalgToGPU, GPUHost, GPUToSCF
//===----------------------------------------------------------------------===//

def ConvertMHMoERouteToGPU : Pass<"convert-mhmoe-route-to-gpu"> {
  let summary = "Lower mhmoe.route and mhmoe.expert_load to GPU kernels";
  let description = [{
    `mhmoe.route` becomes a `gpu.launch` with one thread per sub-token that
    runs the routing body shared with the CPU lowering (gate GEMV, softmax
    statistics, top-k with ties to the lower index, renormalisation), one
    expert at a time, with
    its [E] scratch in thread-private memory; a capacity factor adds a
    single-thread kernel for the order-dependent drop pass.
    `mhmoe.expert_load` becomes a zeroing kernel and a histogram kernel with
    integer atomics (order-independent, so exact).
  }];
  let dependentDialects = ["mlir::gpu::GPUDialect", "mlir::scf::SCFDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::vector::VectorDialect", "mlir::math::MathDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::bufferization::BufferizationDialect"];
}

def ConvertMHMoEExchangeToGPU
    : Pass<"convert-mhmoe-exchange-to-gpu", "mlir::ModuleOp"> {
  let summary = "Lower mhmoe.dispatch/mhmoe.combine to GPU kernels and communicator calls";
  let description = [{
    The same lowering as `convert-mhmoe-exchange-to-scf`, with its loops as
    kernels: the send layout, the capacity and the drop counts (order-
    dependent) as single-thread kernels, the row packing, unpacking and the
    choice-ordered sum as one thread per row. The per-rank counts are copied
    to buffers marked `mhmoe.host_buffer`, which `mhmoe-gpu-device-buffers`
    leaves in host memory: the communicator reads them there and the host
    sizes the receive buffers from them. The rows passed to
    `__mhmoe_exchange_rows` are device pointers.

    ```mlir
    %h = memref.alloc() {mhmoe.host_buffer} : memref<2xi64>
    memref.copy %counts, %h : memref<2xi64> to memref<2xi64>
    %r = func.call @__mhmoe_exchange_rows(%send, %sc, %recv, %rc, %c1544)
        : (i64, i64, i64, i64, i64) -> i32
    ```
  }];
  let dependentDialects = ["mlir::gpu::GPUDialect", "mlir::scf::SCFDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::vector::VectorDialect", "mlir::func::FuncDialect",
                           "mlir::math::MathDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::bufferization::BufferizationDialect"];
}

def ConvertMHMoEExpertApplyToGPU : Pass<"convert-mhmoe-expert-apply-to-gpu"> {
  let summary = "Lower mhmoe.expert_apply to grouped-GEMM GPU kernels";
  let description = [{
    A stable, atomic-free counting sort of the (sub-token, choice) pairs by
    expert (per-(chunk, expert) counts, per-expert scan, a serial prefix
    over experts that also builds the (expert, row block) tile table,
    placement), then two grouped-GEMM kernels over (row-block tile, column
    strip) blocks whose threads run register tiles: the first gathers its A
    rows through the permutation and applies bias and activation in the
    epilogue (fc1 and fc3 share each A load), the second applies bias and
    combine weight and writes each pair's row; a combine kernel sums each
    sub-token's k rows in choice order. Grids are host-computable upper
    bounds, so nothing is read back to the host.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90\"",
           "NVIDIA chip whose SM count the tile cost model assumes">,
    Option<"expectedTokens", "expected-tokens", "int64_t", /*default=*/"2048",
           "Token count the tile cost model sizes for (tokens are dynamic)">,
    Option<"math", "math", "mlir::mhmoe::GPUMathMode",
           /*default=*/"mlir::mhmoe::GPUMathMode::TF32x3",
           "GEMM arithmetic: simt (FP32 thread tiles), tf32 or 3xtf32 "
           "(tensor-core mma.sync; 3xtf32 keeps f32 accuracy), 16bit "
           "(GEMMs with bf16/f16 weights multiply in that type)",
           [{mlir::mhmoe::gpuMathModeValues()}]>
  ];
  let dependentDialects = ["mlir::gpu::GPUDialect", "mlir::scf::SCFDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::vector::VectorDialect", "mlir::math::MathDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::nvgpu::NVGPUDialect",
                           "mlir::bufferization::BufferizationDialect"];
}

def MHMoELowerProjectionGemmToGPU : Pass<"mhmoe-lower-projection-gemm-to-gpu"> {
  let summary = "Lower transposed-B linalg.matmul on buffers to a GEMM kernel";
  let description = [{
    Each `linalg.matmul` with transposed-B maps on f32 buffers (the
    projections) becomes a `gpu.launch` over (column strip, row block)
    blocks; each thread computes a register tile of A·Bᵀ vectorised along k
    and adds it into the output (which holds the broadcast bias).
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90\"",
           "NVIDIA chip whose SM count the tile cost model assumes">,
    Option<"expectedTokens", "expected-tokens", "int64_t", /*default=*/"2048",
           "Token count the tile cost model sizes for (tokens are dynamic)">,
    Option<"math", "math", "mlir::mhmoe::GPUMathMode",
           /*default=*/"mlir::mhmoe::GPUMathMode::TF32x3",
           "GEMM arithmetic: simt (FP32 thread tiles), tf32 or 3xtf32 "
           "(tensor-core mma.sync; 3xtf32 keeps f32 accuracy), 16bit "
           "(GEMMs with bf16/f16 weights multiply in that type)",
           [{mlir::mhmoe::gpuMathModeValues()}]>
  ];
  let dependentDialects = ["mlir::gpu::GPUDialect", "mlir::scf::SCFDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::vector::VectorDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::nvgpu::NVGPUDialect"];
}

def MHMoEMapParallelLoopsCoalesced : Pass<"mhmoe-map-parallel-loops-coalesced"> {
  let summary = "Tile and map element-wise scf.parallel loops to GPU blocks, coalesced";
  let description = [{
    Tiles each outermost `scf.parallel` (not already in a kernel) for
    128-thread blocks and sets its GPU mapping for
    `convert-parallel-loops-to-gpu`. A 2-D loop over [rows, D] puts the
    contiguous D on threadIdx.x (as many threads as the power of two
    covering D, at most 128) and rows on threadIdx.y and blockIdx.x, so a
    warp reads consecutive floats and the grid is (rows / threads.y,
    D / threads.x). Other loops get 128 iterations of their first
    dimension per block, one per thread. Loops nested in a tile run
    sequentially in each thread.
  }];
  let dependentDialects = ["mlir::gpu::GPUDialect", "mlir::scf::SCFDialect",
                           "mlir::affine::AffineDialect"];
}

def MHMoEGPUDeviceBuffers : Pass<"mhmoe-gpu-device-buffers", "mlir::ModuleOp"> {
  let summary = "Place host-allocated buffers in GPU memory";
  let description = [{
    In host code, `memref.alloc` / `memref.dealloc` / `memref.copy` become
    `gpu.alloc` / `gpu.dealloc` / `gpu.memcpy`. Any host op that would still
    read or write buffer contents (loads, stores, unmapped loops, linalg) is
    an error naming the op: on the GPU target all memory accesses are in
    kernels.
  }];
  let dependentDialects = ["mlir::gpu::GPUDialect"];
}

def MHMoEGPUKernelModule : Pass<"mhmoe-gpu-kernel-module", "mlir::ModuleOp"> {
  let summary = "Outline every GPU kernel of the model into one gpu.module";
  let description = [{
    Names one `gpu.module` (option `module`, default `mhmoe_kernels`) as the
    outlining target of every `gpu.launch` that names none, so that
    `gpu-kernel-outlining` puts all kernels into that module instead of one
    module per kernel. The module is serialised as one PTX module / cubin:
    `mhmoe-compile --emit=ptx` writes a file `ptxas` assembles as it is,
    and the library loads one module per call instead of one per kernel.
    Run right before `gpu-kernel-outlining`. A host symbol of the same name
    that is not a `gpu.module` is an error.
  }];
  let options = [
    Option<"moduleName", "module", "std::string", /*default=*/"\"mhmoe_kernels\"",
           "Symbol name of the gpu.module that receives the kernels">
  ];
}

def MHMoEAlignWorkgroupBuffers : Pass<"mhmoe-align-workgroup-buffers"> {
  let summary = "Align the shared-memory buffers of GPU kernels to 16 bytes";
  let description = [{
    Sets `llvm.align = 16` on every workgroup attribution of every
    `gpu.func`, so the 16-byte vector stores that stage GEMM tiles in shared
    memory are aligned (the NVVM lowering otherwise aligns a buffer only to
    its element type). Run after `gpu-kernel-outlining`.
  }];
}

def MHMoELowerBF16MmaSyncToNVVM : Pass<"mhmoe-lower-bf16-mma-sync-to-nvvm"> {
  let summary = "Lower bf16 nvgpu.mma.sync (m16n8k16) to nvvm.mma.sync";
  let description = [{
    MLIR's `convert-nvgpu-to-nvvm` cannot deduce PTX types for bf16 operands
    ("failed to deduce operand PTX types"). This pass rewrites each
    `nvgpu.mma.sync` m16n8k16 with `vector<4x2xbf16>` / `vector<2x2xbf16>`
    operands and f32 accumulators into `nvvm.mma.sync` with the operands as
    32-bit registers (two bf16 each, bitcast), explicit bf16 PTX types and
    row/col layouts, and rebuilds the `vector<2x2xf32>` result. Other
    `nvgpu.mma.sync` ops are left to `convert-nvgpu-to-nvvm`. Run after
    kernel outlining, before the NVVM lowering.

    Example:
    ```mlir
    %d = nvgpu.mma.sync(%a, %b, %c) {mmaShape = [16, 8, 16]}
        : (vector<4x2xbf16>, vector<2x2xbf16>, vector<2x2xf32>) -> vector<2x2xf32>
    // becomes
    %r = nvvm.mma.sync A[%a0, %a1, %a2, %a3] B[%b0, %b1] C[%c0, %c1, %c2, %c3]
        {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>,
         multiplicandAPtxType = #nvvm.mma_type<bf16>,
         multiplicandBPtxType = #nvvm.mma_type<bf16>,
         shape = #nvvm.shape<m = 16, n = 8, k = 16>}
        : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
    ```
  }];
  let dependentDialects = ["mlir::NVVM::NVVMDialect", "mlir::LLVM::LLVMDialect",
                           "mlir::vector::VectorDialect"];
}

def MHMoEEmulateGPULaunch : Pass<"mhmoe-emulate-gpu-launch"> {
  let summary = "Run gpu.launch kernels as CPU loops";
  let description = [{
    Rewrites each `gpu.launch` into an `scf.parallel` over blocks. Inside, the
    kernel body is cut at every `gpu.barrier` into segments, each a
    sequential loop over the block's threads (each thread's part in a
    `memref.alloca_scope`); values live across a barrier go through
    per-thread buffers and shared memory (workgroup attributions) becomes a
    per-block buffer. Barriers may sit in `scf.for` / `scf.if` with
    block-uniform bounds and conditions. Warp-level `nvgpu.mma.sync`
    (m16n8k8 TF32, m16n8k16 bf16 / f16) becomes per-thread code over a
    shared scratch, following the PTX fragment layout and reading TF32
    operands as TF32. Other gpu ops
    (shuffles, async copies) are rejected with an error. Used to test the
    GPU kernels' numerics on machines without a GPU.
  }];
  let dependentDialects = ["mlir::scf::SCFDialect", "mlir::memref::MemRefDialect",
                           "mlir::arith::ArithDialect", "mlir::vector::VectorDialect"];
}

#endif
