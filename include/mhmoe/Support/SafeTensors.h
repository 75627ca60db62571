//===- SafeTensors.h - Defensive safetensors reader/writer -----*- C++ -*-===//
//
// Format: 8-byte little-endian u64 header length N, N bytes of JSON header
//   {name: {"dtype": str, "shape": [int...], "data_offsets": [begin, end]},
//    "__metadata__": {str: str} (optional)}
// followed by the raw little-endian data section; offsets are relative to the
// start of the data section.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_SUPPORT_SAFETENSORS_H
#define MHMOE_SUPPORT_SAFETENSORS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mhmoe {

enum class DType {
  F64,
  F32,
  F16,
  BF16,
  I64,
  I32,
  I16,
  I8,
  U64,
  U32,
  U16,
  U8,
  BOOL,
  F8_E4M3,
  F8_E5M2,
};

/// safetensors spelling ("F32", "BF16", ...).
llvm::StringRef dtypeName(DType t);
/// Size of one element in bytes.
uint64_t dtypeSize(DType t);
std::optional<DType> parseDType(llvm::StringRef s);

/// Largest accepted JSON header.
constexpr uint64_t kMaxSafeTensorsHeaderBytes = uint64_t(100) << 20;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr; // points into the file mapping
  uint64_t numBytes = 0;

  int64_t numElements() const; // product of shape (validated not to overflow)
};

class SafeTensorsFile {
public:
  /// Reads `path` (a regular file) into owned memory and validates it. All
  /// errors name the file and, where applicable, the tensor and field.
  static llvm::Expected<std::unique_ptr<SafeTensorsFile>>
  open(llvm::StringRef path);

  /// Validates an in-memory image; `path` is used for messages only.
  static llvm::Expected<std::unique_ptr<SafeTensorsFile>>
  fromBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef path);

  /// nullptr if there is no tensor named `name`.
  const TensorInfo *lookup(llvm::StringRef name) const;
  /// Tensors in ascending data-offset order.
  llvm::ArrayRef<TensorInfo> tensors() const { return tensorList; }
  llvm::StringRef path() const { return filePath; }
  /// The optional "__metadata__" string map.
  const std::map<std::string, std::string> &metadata() const { return meta; }

private:
  SafeTensorsFile() = default;

  std::string filePath;
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  std::vector<TensorInfo> tensorList;
  llvm::StringMap<size_t> index;
  std::map<std::string, std::string> meta;
};

/// Converts an F32/F16/BF16 tensor to f32 into `dst` (numElements() floats).
/// Other dtypes give an error naming the tensor.
llvm::Error copyAsF32(const TensorInfo &tensor, float *dst);

/// One tensor for writeSafeTensors (f32 data, C order).
struct SafeTensorsF32Entry {
  std::string name;
  std::vector<int64_t> shape;
  const float *data;
};

/// One tensor with raw little-endian bytes of the given dtype.
struct SafeTensorsRawEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  llvm::ArrayRef<uint8_t> bytes; // must hold numel * dtypeSize bytes
};

/// Writes an F32 safetensors file atomically (temporary file + rename).
llvm::Error
writeSafeTensors(llvm::StringRef path,
                 llvm::ArrayRef<SafeTensorsF32Entry> tensors,
                 const std::map<std::string, std::string> &metadata = {});

/// Writes a safetensors file with arbitrary dtypes atomically.
llvm::Error
writeSafeTensorsRaw(llvm::StringRef path,
                    llvm::ArrayRef<SafeTensorsRawEntry> tensors,
                    const std::map<std::string, std::string> &metadata = {});

} // namespace mhmoe

#endif // MHMOE_SUPPORT_SAFETENSORS_H
