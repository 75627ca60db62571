//===- Npy.h - NumPy .npy reader/writer ------------------------*- C++ -*-===//
//
// Reads .npy versions 1.0, 2.0 and 3.0 holding little-endian float32 ('<f4')
// or float16 ('<f2', converted to f32) in C order; writes v1.0 '<f4'.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_TOOLSUPPORT_NPY_H
#define MHMOE_TOOLSUPPORT_NPY_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "mhmoe/ToolSupport/OutputFiles.h"

#include <functional>

#include <cstdint>
#include <vector>

namespace mhmoe {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data; // C order, product(shape) elements

  int64_t numElements() const { return static_cast<int64_t>(data.size()); }
};

/// Largest header dict accepted (numpy itself writes a few hundred bytes).
constexpr uint64_t kMaxNpyHeaderBytes = uint64_t(1) << 20;

/// Called with the shape from the header before any data is read or
/// allocated; an error stops the read.
using NpyShapeCheck =
    std::function<llvm::Error(llvm::ArrayRef<int64_t> shape)>;

/// Reads and validates a .npy file: a regular file only, the header first,
/// then exactly the data it promises. Errors name the file.
llvm::Expected<NpyArray> readNpy(llvm::StringRef path,
                                 const NpyShapeCheck &check = {});
/// Parses an in-memory .npy image; `nameForMessages` prefixes errors.
llvm::Expected<NpyArray> parseNpy(llvm::StringRef bytes,
                                  llvm::StringRef nameForMessages,
                                  const NpyShapeCheck &check = {});

/// The writer of a v1.0 (v2.0 if the header needs it) '<f4' C-order array,
/// for an OutputFiles set; the array must outlive it.
llvm::Expected<OutputWriter> npyF32Writer(llvm::ArrayRef<int64_t> shape,
                                          const float *data);

/// Writes a v1.0 (v2.0 if the header needs it) '<f4' C-order array
/// atomically: the data goes to a temporary file in the same directory that
/// is renamed onto `path` only on success. `shape` must have >= 1 dims.
llvm::Error writeNpyF32(llvm::StringRef path, llvm::ArrayRef<int64_t> shape,
                        const float *data);

} // namespace mhmoe

#endif // MHMOE_TOOLSUPPORT_NPY_H
