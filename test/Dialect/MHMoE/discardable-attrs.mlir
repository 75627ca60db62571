// RUN: mhmoe-opt %s -split-input-file -verify-diagnostics | FileCheck %s
// The dialect's discardable attributes (mhmoe.config, mhmoe.cpu_target on the
// module; mhmoe.name and mhmoe.packed_* on the model function's arguments and
// results) are verified by the dialect: their kinds, where they may appear,
// and that no other mhmoe.* attribute is used.

// CHECK-LABEL: module attributes {mhmoe.config = "{\22hidden_size\22: 8}", mhmoe.cpu_target = {vector_bits = 512 : i64}}
// CHECK: func.func @model(%{{.*}}: tensor<8xf32> {mhmoe.name = "layers.0.norm.weight"}, %{{.*}}: tensor<8xf32> {mhmoe.name = "p", mhmoe.packed_arg = 0 : i64, mhmoe.packed_by = @pack, mhmoe.packed_from = "layers.0.norm.weight"}) -> (tensor<8xf32> {mhmoe.name = "output"})
module attributes {mhmoe.config = "{\"hidden_size\": 8}", mhmoe.cpu_target = {vector_bits = 512 : i64}} {
  func.func @pack(%a: tensor<8xf32>) -> tensor<8xf32> { return %a : tensor<8xf32> }
  func.func @model(%a: tensor<8xf32> {mhmoe.name = "layers.0.norm.weight"},
                   %p: tensor<8xf32> {mhmoe.name = "p", mhmoe.packed_from = "layers.0.norm.weight",
                                      mhmoe.packed_by = @pack, mhmoe.packed_arg = 0 : i64})
      -> (tensor<8xf32> {mhmoe.name = "output"}) {
    return %a : tensor<8xf32>
  }
}

// -----

// expected-error @+1 {{'mhmoe.config' is not a JSON object}}
module attributes {mhmoe.config = "[1, 2"} {}

// -----

// expected-error @+1 {{'mhmoe.config' must be a string holding the model's JSON config}}
module attributes {mhmoe.config = 3 : i64} {}

// -----

// expected-error @+1 {{'mhmoe.cpu_target' must be a dictionary (the CPU target description)}}
module attributes {mhmoe.cpu_target = "avx512"} {}

// -----

module {
  // expected-error @+1 {{'mhmoe.config' belongs on a builtin.module}}
  func.func @f() attributes {mhmoe.config = "{}"} { return }
}

// -----

// expected-error @+1 {{'mhmoe.confg' is not an mhmoe attribute of an operation (expected one of: mhmoe.config, mhmoe.cpu_target, mhmoe.expert_shard)}}
module attributes {mhmoe.confg = "{}"} {}

// -----

// expected-error @+1 {{'mhmoe.name' of argument 0 must be a non-empty string (the tensor's name)}}
func.func @f(%a: tensor<8xf32> {mhmoe.name = ""}) { return }

// -----

// expected-error @+1 {{'mhmoe.packed_by' of argument 0 must be a symbol reference (the packer)}}
func.func @f(%a: tensor<8xf32> {mhmoe.packed_by = "pack"}) { return }

// -----

// expected-error @+1 {{'mhmoe.packed_arg' of argument 0 must be a non-negative integer (the packer's argument)}}
func.func @f(%a: tensor<8xf32> {mhmoe.packed_arg = -1 : i64}) { return }

// -----

// expected-error @+1 {{'mhmoe.packed_from' of argument 0 must be a string (the raw weight's name)}}
func.func @f(%a: tensor<8xf32> {mhmoe.packed_from = 1 : i64}) { return }

// -----

// expected-error @+1 {{'mhmoe.weight' is not an mhmoe attribute of argument 0 (expected one of: mhmoe.name, mhmoe.packed_from, mhmoe.packed_by, mhmoe.packed_arg, mhmoe.expert_slice)}}
func.func @f(%a: tensor<8xf32> {mhmoe.weight = "w"}) { return }

// -----

// expected-error @+1 {{'mhmoe.packed_from' is not an mhmoe attribute of result 0 (expected one of: mhmoe.name)}}
func.func @f() -> (tensor<8xf32> {mhmoe.packed_from = "w"}) {
  %0 = tensor.empty() : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

// mhmoe.host_buffer marks a memref.alloc of the GPU target's host code.
func.func @host_buffer() {
  %b = memref.alloc() {mhmoe.host_buffer} : memref<2xi64>
  memref.dealloc %b : memref<2xi64>
  return
}

// -----

func.func @host_buffer_on_another_op(%n: index) -> index {
  // expected-error @+1 {{'mhmoe.host_buffer' is a unit attribute of memref.alloc}}
  %m = arith.addi %n, %n {mhmoe.host_buffer} : index
  return %m : index
}
