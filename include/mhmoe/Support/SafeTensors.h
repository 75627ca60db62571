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

#include "mhmoe/Support/Status.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
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
const char *dtypeName(DType t);
/// Size of one element in bytes.
uint64_t dtypeSize(DType t);
std::optional<DType> parseDType(std::string_view s);

/// Largest accepted JSON header.
constexpr uint64_t kMaxSafeTensorsHeaderBytes = uint64_t(100) << 20;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr; // points into the file's bytes (64-aligned base)
  uint64_t numBytes = 0;

  int64_t numElements() const; // product of shape (validated not to overflow)
};

class SafeTensorsFile {
public:
  /// Reads `path` (a regular file) into owned memory and validates it. All
  /// errors name the file and, where applicable, the tensor and field.
  static Result<std::unique_ptr<SafeTensorsFile>> open(const std::string &path);

  /// The bytes [begin, end) of tensor `t`'s data that a reader needs.
  using NeededBytes =
      std::function<std::pair<uint64_t, uint64_t>(const TensorInfo &t)>;
  /// open() that reads, besides the header, only the bytes `needed` asks for
  /// (an expert-parallel rank: its slice of each expert tensor). The image
  /// keeps the file's layout, so the other bytes are allocated but never
  /// read or written: their pages never become resident, and they must not
  /// be read.
  static Result<std::unique_ptr<SafeTensorsFile>>
  open(const std::string &path, const NeededBytes &needed);

  /// Validates a copy of an in-memory image; `path` is used for messages only.
  static Result<std::unique_ptr<SafeTensorsFile>>
  fromBytes(const void *data, size_t size, const std::string &path);

  /// Validates `data` in place, without a copy: the file keeps `owner`
  /// (e.g. a read-only mapping) alive and never writes through `data`. For
  /// one-shot readers such as the checkpoint importer, whose input may be far
  /// larger than memory; the runtime reads its weights with open().
  static Result<std::unique_ptr<SafeTensorsFile>>
  fromBorrowedBytes(const uint8_t *data, uint64_t size, const std::string &path,
                    std::shared_ptr<const void> owner);

  /// nullptr if there is no tensor named `name`.
  const TensorInfo *lookup(const std::string &name) const;
  /// Tensors in ascending data-offset order.
  const std::vector<TensorInfo> &tensors() const { return tensorList; }
  const std::string &path() const { return filePath; }
  /// The whole file image the tensors point into.
  const uint8_t *data() const { return bytes.get(); }
  uint64_t size() const { return numBytes; }
  /// The optional "__metadata__" string map.
  const std::map<std::string, std::string> &metadata() const { return meta; }

private:
  struct FreeBytes {
    FreeBytes() : owned(true) {}
    explicit FreeBytes(bool owned) : owned(owned) {}
    bool owned; // false: borrowed bytes, kept alive by `owner`
    void operator()(uint8_t *p) const;
  };
  SafeTensorsFile() = default;
  static Result<std::unique_ptr<SafeTensorsFile>>
  fromOwnedBytes(std::unique_ptr<uint8_t, FreeBytes> bytes, uint64_t size,
                 const std::string &path);

  std::string filePath;
  std::unique_ptr<uint8_t, FreeBytes> bytes;
  std::shared_ptr<const void> owner;
  uint64_t numBytes = 0;
  std::vector<TensorInfo> tensorList;
  std::unordered_map<std::string, size_t> index;
  std::map<std::string, std::string> meta;
};

/// Converts an F32/F16/BF16 tensor to f32 into `dst` (numElements() floats).
/// Other dtypes give an error naming the tensor.
Status copyAsF32(const TensorInfo &tensor, float *dst);

/// The "dtype" string of each tensor in the JSON header of the safetensors
/// file `path`, reading only the header (guarded as open() guards it); an
/// error for anything but a regular file with a well-formed header.
Result<std::map<std::string, std::string>>
readSafeTensorsDTypes(const std::string &path);

/// Converts an F32/F16/BF16 tensor to `to` (F32, F16 or BF16) into `dst`
/// (numElements() values of `to`): a copy when the dtypes agree, exact when
/// widening, round to nearest even when narrowing (through f32).
Status copyAs(const TensorInfo &tensor, DType to, void *dst);

} // namespace mhmoe

#endif // MHMOE_SUPPORT_SAFETENSORS_H
