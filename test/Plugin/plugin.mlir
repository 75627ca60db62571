// Upstream mlir-opt with mhmoe loaded as a plugin: it parses, verifies and
// prints mhmoe IR, and runs mhmoe's passes and pipelines.
// RUN: mlir-opt %s --load-dialect-plugin=%mhmoe_plugin --load-pass-plugin=%mhmoe_plugin | FileCheck %s --check-prefix=ROUNDTRIP
// Plugin passes are named in --pass-pipeline (their flags are not known when
// mlir-opt parses its command line).
// RUN: mlir-opt %s --load-dialect-plugin=%mhmoe_plugin --load-pass-plugin=%mhmoe_plugin --pass-pipeline="builtin.module(convert-mhmoe-reshape-to-tensor)" | FileCheck %s --check-prefix=RESHAPE
// RUN: mlir-opt %s --load-dialect-plugin=%mhmoe_plugin --load-pass-plugin=%mhmoe_plugin --pass-pipeline="builtin.module(mhmoe-cpu-kernel-pipeline{entry-point=false})" | FileCheck %s --check-prefix=KERNELS
// RUN: not mlir-opt %s --split-input-file 2>&1 | FileCheck %s --check-prefix=NOPLUGIN

// ROUNDTRIP: mhmoe.head_split %{{.*}} heads(2) : tensor<?x64xf32> -> tensor<?x32xf32>
// ROUNDTRIP: mhmoe.merge %{{.*}} heads(2) : tensor<?x32xf32> -> tensor<?x64xf32>
// RESHAPE-NOT: mhmoe.
// RESHAPE: tensor.expand_shape
// RESHAPE: tensor.collapse_shape
// KERNELS-LABEL: func.func @split_merge
// KERNELS-NOT: mhmoe.
// NOPLUGIN: Dialect `mhmoe' not found
func.func @split_merge(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %s = mhmoe.head_split %x heads(2) : tensor<?x64xf32> -> tensor<?x32xf32>
  %y = mhmoe.merge %s heads(2) : tensor<?x32xf32> -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
