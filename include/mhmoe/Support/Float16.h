//===- Float16.h - IEEE half / bfloat16 conversions ------------*- C++ -*-===//
#ifndef MHMOE_SUPPORT_FLOAT16_H
#define MHMOE_SUPPORT_FLOAT16_H

#include <cstddef>
#include <cstdint>

namespace mhmoe {

/// IEEE 754 binary16 -> binary32 (exact; handles subnormals, inf, NaN).
float halfToFloat(uint16_t h);
/// binary32 -> binary16, round to nearest even (overflow -> inf, NaN kept).
uint16_t floatToHalf(float f);
/// bfloat16 -> binary32 (bfloat16 is the upper 16 bits of a binary32).
float bf16ToFloat(uint16_t b);
/// binary32 -> bfloat16, round to nearest even (NaN kept quiet).
uint16_t floatToBF16(float f);

/// Converts `n` little-endian half / bfloat16 values at `src` (any alignment)
/// to f32 at `dst`.
void convertHalfToF32(const uint8_t *src, float *dst, size_t n);
void convertBF16ToF32(const uint8_t *src, float *dst, size_t n);

} // namespace mhmoe

#endif // MHMOE_SUPPORT_FLOAT16_H
