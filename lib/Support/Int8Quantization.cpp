//===- Int8Quantization.cpp - int8 weight-only quantization ---------------===//
#include "mhmoe/Support/Int8Quantization.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace mhmoe {

Status quantizeRowsInt8(const TensorInfo &t, int8_t *values, float *scales,
                        uint64_t firstRow) {
  if (t.shape.size() < 2 || t.shape.back() <= 0)
    return Status::error("tensor '" + t.name +
                         "': int8 quantization needs rows (rank >= 2)");
  const uint64_t cols = static_cast<uint64_t>(t.shape.back());
  const uint64_t size = dtypeSize(t.dtype);
  const uint64_t rows = size ? t.numBytes / size / cols : 0;
  std::vector<float> row(cols);
  for (uint64_t r = 0; r < rows; ++r) {
    TensorInfo part = t;
    part.data = t.data + r * cols * size;
    part.numBytes = cols * size;
    if (Status err = copyAsF32(part, row.data()))
      return err;
    float amax = 0.0f;
    for (float w : row) {
      if (!std::isfinite(w))
        return Status::error("tensor '" + t.name + "': row " +
                             std::to_string(firstRow + r) +
                             " has a NaN or infinite value; int8 "
                             "quantization needs finite weights");
      amax = std::max(amax, std::fabs(w));
    }
    // f32 arithmetic throughout, so references reproduce it exactly.
    const float scale = amax / 127.0f;
    scales[r] = scale;
    int8_t *q = values + r * cols;
    for (uint64_t j = 0; j < cols; ++j) {
      // nearbyint rounds half to even in the default rounding mode.
      float v = scale > 0.0f ? std::nearbyint(row[j] / scale) : 0.0f;
      q[j] = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
    }
  }
  return Status::success();
}

Status checkInt8Scales(const TensorInfo &scales, uint64_t firstRow) {
  if (scales.dtype != DType::F32)
    return Status::error("tensor '" + scales.name + "': dtype " +
                         dtypeName(scales.dtype) +
                         " is not supported for int8 scales; expected F32");
  const uint64_t n = scales.numBytes / sizeof(float);
  for (uint64_t i = 0; i < n; ++i) {
    float s;
    std::memcpy(&s, scales.data + i * sizeof(float), sizeof(float));
    if (!std::isfinite(s) || s < 0.0f)
      return Status::error("tensor '" + scales.name + "': scale " +
                           std::to_string(firstRow + i) + " is " + std::to_string(s) +
                           "; int8 scales must be finite and >= 0");
  }
  return Status::success();
}

} // namespace mhmoe
