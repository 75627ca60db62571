//===- Shape.cpp - overflow-checked tensor shape arithmetic ---------------===//
#include "mhmoe/Support/Shape.h"

namespace mhmoe {

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  s += "]";
  return s;
}

bool checkedMulNonNeg(int64_t a, int64_t b, int64_t &out) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r))
    return false;
  out = r;
  return true;
}

bool checkedNumElements(const std::vector<int64_t> &shape, int64_t &out) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (!checkedMulNonNeg(n, d, n))
      return false;
  out = n;
  return true;
}

} // namespace mhmoe
