//===- Int8Quantization.h - int8 weight-only quantization -------*- C++ -*-===//
//
// `--weights=int8`: symmetric, one scale per output channel (one row of the
// PyTorch Linear layout [..., out, in]): scale = max|row| / 127 (0 for an
// all-zero row), q = round_half_to_even(w / scale) clamped to [-127, 127],
// computed in f32 so any reference reproduces it bit for bit. The kernels
// compute with q * scale. See docs/model-format.md.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_SUPPORT_INT8QUANTIZATION_H
#define MHMOE_SUPPORT_INT8QUANTIZATION_H

#include "mhmoe/Support/SafeTensors.h"

namespace mhmoe {

/// Quantizes the F32/F16/BF16 tensor `t` (rank >= 2, rows along the last
/// dimension) into `values` (numElements() int8) and `scales` (one f32 per
/// row). A row with a NaN or infinity is an error naming the tensor and row;
/// rows are numbered from `firstRow` (`t` may be a slice of a larger tensor).
Status quantizeRowsInt8(const TensorInfo &t, int8_t *values, float *scales,
                        uint64_t firstRow = 0);

/// Checks stored per-row scales (F32, `rows` values): each finite and >= 0;
/// numbered from `firstRow` in messages.
Status checkInt8Scales(const TensorInfo &scales, uint64_t firstRow = 0);

} // namespace mhmoe

#endif // MHMOE_SUPPORT_INT8QUANTIZATION_H
