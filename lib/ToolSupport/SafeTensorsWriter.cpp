//===- SafeTensorsWriter.cpp - atomic safetensors writer ------------------===//
#include "mhmoe/ToolSupport/SafeTensorsWriter.h"
#include "mhmoe/ToolSupport/LLVMError.h"
#include "mhmoe/ToolSupport/OutputFiles.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <limits>

using namespace llvm;

namespace mhmoe {

static uint64_t dataSize(const SafeTensorsRawEntry &t) {
  if (t.pieces.empty())
    return t.bytes.size();
  uint64_t n = 0;
  for (ArrayRef<uint8_t> p : t.pieces)
    n += p.size();
  return n;
}

Expected<OutputWriter>
safeTensorsWriter(StringRef path, ArrayRef<SafeTensorsRawEntry> tensors,
                  const std::map<std::string, std::string> &metadata) {
  json::Object header;
  StringSet<> names;
  uint64_t offset = 0;
  for (const SafeTensorsRawEntry &t : tensors) {
    if (t.name == "__metadata__")
      return makeError(path + ": tensor name '__metadata__' is reserved");
    if (!names.insert(t.name).second)
      return makeError(path + ": duplicate tensor name '" + t.name + "'");
    int64_t numel = 0, nbytes = 0;
    if (!checkedNumElements(t.shape, numel) ||
        !checkedMulNonNeg(numel, static_cast<int64_t>(dtypeSize(t.dtype)),
                          nbytes))
      return makeError(path + ": tensor '" + t.name + "': invalid shape " +
                       formatShape(t.shape));
    if (static_cast<uint64_t>(nbytes) != dataSize(t))
      return makeError(path + ": tensor '" + t.name + "': " +
                       Twine(dataSize(t)) + " data bytes given but shape " +
                       formatShape(t.shape) + " needs " + Twine(nbytes));
    json::Array shape;
    for (int64_t d : t.shape)
      shape.push_back(d);
    header[t.name] = json::Object{
        {"dtype", dtypeName(t.dtype)},
        {"shape", std::move(shape)},
        {"data_offsets",
         json::Array{static_cast<int64_t>(offset),
                     static_cast<int64_t>(offset + nbytes)}}};
    offset += nbytes;
  }
  if (!metadata.empty()) {
    json::Object m;
    for (const auto &kv : metadata)
      m[kv.first] = kv.second;
    header["__metadata__"] = std::move(m);
  }
  std::string text;
  {
    raw_string_ostream os(text);
    os << json::Value(std::move(header));
  }
  while (text.size() % 8 != 0)
    text.push_back(' ');

  std::vector<SafeTensorsRawEntry> entries(tensors.begin(), tensors.end());
  return OutputWriter([text = std::move(text), entries = std::move(entries)](
                          raw_ostream &os) -> Error {
    char len[8];
    support::endian::write64le(len, text.size());
    os.write(len, 8);
    os << text;
    auto write = [&](ArrayRef<uint8_t> b) {
      os.write(reinterpret_cast<const char *>(b.data()), b.size());
    };
    for (const SafeTensorsRawEntry &t : entries) {
      if (t.pieces.empty())
        write(t.bytes);
      for (ArrayRef<uint8_t> p : t.pieces)
        write(p);
    }
    return Error::success();
  });
}

Error writeSafeTensorsRaw(StringRef path, ArrayRef<SafeTensorsRawEntry> tensors,
                          const std::map<std::string, std::string> &metadata) {
  Expected<OutputWriter> writer = safeTensorsWriter(path, tensors, metadata);
  if (!writer)
    return writer.takeError();
  return writeFileAtomically(path, *writer);
}

Error writeSafeTensors(StringRef path, ArrayRef<SafeTensorsF32Entry> tensors,
                       const std::map<std::string, std::string> &metadata) {
  std::vector<SafeTensorsRawEntry> raw;
  raw.reserve(tensors.size());
  for (const SafeTensorsF32Entry &t : tensors) {
    int64_t numel = 0;
    if (!checkedNumElements(t.shape, numel) ||
        numel > std::numeric_limits<int64_t>::max() / 4)
      return makeError(path + ": tensor '" + t.name + "': invalid shape " +
                       formatShape(t.shape));
    if (numel > 0 && !t.data)
      return makeError(path + ": tensor '" + t.name + "': null data");
    raw.push_back({t.name, DType::F32, t.shape,
                   ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(t.data),
                                     static_cast<size_t>(numel) * 4)});
  }
  return writeSafeTensorsRaw(path, raw, metadata);
}

} // namespace mhmoe
