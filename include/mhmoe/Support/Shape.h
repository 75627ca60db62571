//===- Shape.h - overflow-checked tensor shape arithmetic -------*- C++ -*-===//
#ifndef MHMOE_SUPPORT_SHAPE_H
#define MHMOE_SUPPORT_SHAPE_H

#include <cstdint>
#include <string>
#include <vector>

namespace mhmoe {

/// Formats a shape as "[a, b, c]".
std::string formatShape(const std::vector<int64_t> &shape);

/// Multiplies `a * b` into `out`; returns false on signed overflow or if
/// either operand is negative.
bool checkedMulNonNeg(int64_t a, int64_t b, int64_t &out);

/// Number of elements of `shape` (1 for rank 0); returns false on overflow or
/// negative dimension.
bool checkedNumElements(const std::vector<int64_t> &shape, int64_t &out);

} // namespace mhmoe

#endif // MHMOE_SUPPORT_SHAPE_H
