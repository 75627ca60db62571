//===- Float16.cpp - IEEE half / bfloat16 conversions ---------------------===//
#include "mhmoe/Support/Float16.h"

#include <cstring>

namespace mhmoe {

static float bitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

static uint32_t floatToBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign; // +-0
    } else {
      // Subnormal: normalise the mantissa.
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      mant &= 0x3ffu;
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13); // inf / NaN (payload kept)
  } else {
    bits = sign | ((exp + (127 - 15)) << 23) | (mant << 13);
  }
  return bitsToFloat(bits);
}

uint16_t floatToHalf(float f) {
  uint32_t x = floatToBits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) { // inf or NaN
    if (absx > 0x7f800000u)
      return static_cast<uint16_t>(sign | 0x7e00u | ((absx >> 13) & 0x3ffu));
    return static_cast<uint16_t>(sign | 0x7c00u);
  }
  if (absx >= 0x477ff000u) // >= 65520 rounds to inf
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (absx < 0x38800000u) { // below the smallest normal half (2^-14)
    if (absx < 0x33000000u) // < 2^-25: rounds to zero
      return sign;
    uint32_t exp = absx >> 23;
    uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - exp; // 14..24 (so the result is mant >> (shift-0))
    // Value = mant * 2^(exp-150); half subnormal unit = 2^-24.
    // Result = mant * 2^(exp-150+24) = mant >> (126 - exp).
    uint32_t result = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (result & 1u)))
      ++result;
    return static_cast<uint16_t>(sign | result);
  }
  uint32_t result = ((absx >> 23) - 112) << 10 | ((absx >> 13) & 0x3ffu);
  uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (result & 1u)))
    ++result; // may carry into the exponent, which is correct
  return static_cast<uint16_t>(sign | result);
}

float bf16ToFloat(uint16_t b) {
  return bitsToFloat(static_cast<uint32_t>(b) << 16);
}

uint16_t floatToBF16(float f) {
  uint32_t x = floatToBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((x >> 16) | 0x40u); // quiet NaN
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

void convertHalfToF32(const uint8_t *src, float *dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint16_t h = static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8));
    dst[i] = halfToFloat(h);
  }
}

void convertBF16ToF32(const uint8_t *src, float *dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint16_t b = static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8));
    dst[i] = bf16ToFloat(b);
  }
}

} // namespace mhmoe
