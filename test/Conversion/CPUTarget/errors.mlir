// RUN: mhmoe-opt %s --convert-mhmoe-expert-apply-to-scf -split-input-file -verify-diagnostics

// expected-error @+1 {{invalid 'mhmoe.cpu_target': vector_bits is 384, expected 128, 256 or 512}}
module attributes {mhmoe.cpu_target = {vector_bits = 384 : i64}} {
}

// -----

// expected-error @+1 {{invalid 'mhmoe.cpu_target': unknown field 'lanes'}}
module attributes {mhmoe.cpu_target = {lanes = 16 : i64}} {
}

// -----

// expected-error @+1 {{invalid 'mhmoe.cpu_target': field 'cpu' has the wrong type}}
module attributes {mhmoe.cpu_target = {cpu = 3 : i64}} {
}

// -----

// expected-error @+1 {{'mhmoe.cpu_target' must be a dictionary}}
module attributes {mhmoe.cpu_target = "znver4"} {
}
