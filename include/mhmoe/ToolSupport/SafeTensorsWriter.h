//===- SafeTensorsWriter.h - atomic safetensors writer ---------*- C++ -*-===//
//
// Writes safetensors files (the format of mhmoe/Support/SafeTensors.h) for
// the tools and tests, through the atomic OutputFiles path.
//
//===----------------------------------------------------------------------===//
#ifndef MHMOE_TOOLSUPPORT_SAFETENSORSWRITER_H
#define MHMOE_TOOLSUPPORT_SAFETENSORSWRITER_H

#include "mhmoe/Support/SafeTensors.h"
#include "mhmoe/ToolSupport/OutputFiles.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <map>
#include <string>
#include <vector>

namespace mhmoe {

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
  /// When not empty, the data instead: these parts one after another (e.g.
  /// the per-expert tensors of a checkpoint, stacked without a copy).
  std::vector<llvm::ArrayRef<uint8_t>> pieces;
};

/// Writes an F32 safetensors file atomically (temporary file + rename).
llvm::Error
writeSafeTensors(llvm::StringRef path,
                 llvm::ArrayRef<SafeTensorsF32Entry> tensors,
                 const std::map<std::string, std::string> &metadata = {});

/// Checks `tensors` and returns the writer of their safetensors file, for an
/// OutputFiles set; `path` is used in messages. The data is not copied: it
/// must outlive the writer.
llvm::Expected<OutputWriter>
safeTensorsWriter(llvm::StringRef path,
                  llvm::ArrayRef<SafeTensorsRawEntry> tensors,
                  const std::map<std::string, std::string> &metadata = {});

/// Writes a safetensors file with arbitrary dtypes atomically.
llvm::Error
writeSafeTensorsRaw(llvm::StringRef path,
                    llvm::ArrayRef<SafeTensorsRawEntry> tensors,
                    const std::map<std::string, std::string> &metadata = {});

} // namespace mhmoe

#endif // MHMOE_TOOLSUPPORT_SAFETENSORSWRITER_H
