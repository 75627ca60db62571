//===- SafeTensors.cpp - Defensive safetensors reader/writer --------------===//
#include "mhmoe/Support/JSONUtil.h"
#include "mhmoe/Support/SafeTensors.h"
#include "mhmoe/Support/Error.h"
#include "mhmoe/Support/InputFiles.h"
#include "mhmoe/Support/OutputFiles.h"
#include "mhmoe/Support/Float16.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstring>
#include <limits>

using namespace llvm;

namespace mhmoe {

namespace {
struct DTypeDesc {
  DType type;
  const char *name;
  uint64_t size;
};
const DTypeDesc kDTypes[] = {
    {DType::F64, "F64", 8},         {DType::F32, "F32", 4},
    {DType::F16, "F16", 2},         {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8},         {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},         {DType::I8, "I8", 1},
    {DType::U64, "U64", 8},         {DType::U32, "U32", 4},
    {DType::U16, "U16", 2},         {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},       {DType::F8_E4M3, "F8_E4M3", 1},
    {DType::F8_E5M2, "F8_E5M2", 1},
};
} // namespace

StringRef dtypeName(DType t) {
  for (const DTypeDesc &d : kDTypes)
    if (d.type == t)
      return d.name;
  return "?";
}

uint64_t dtypeSize(DType t) {
  for (const DTypeDesc &d : kDTypes)
    if (d.type == t)
      return d.size;
  return 0;
}

std::optional<DType> parseDType(StringRef s) {
  for (const DTypeDesc &d : kDTypes)
    if (s == d.name)
      return d.type;
  return std::nullopt;
}

int64_t TensorInfo::numElements() const {
  int64_t n = 0;
  if (!checkedNumElements(shape, n))
    return -1;
  return n;
}

namespace {

constexpr size_t kMaxHeaderDepth = 64;

/// Scans the raw header text (before JSON parsing) for duplicate object keys,
/// which llvm::json would silently collapse, and for excessive nesting. Any
/// syntactic problem is left for the JSON parser to report.
Error scanHeaderStructure(StringRef text, StringRef path) {
  struct Frame {
    bool isObject;
    bool expectKey;
    std::string owner;   // key under which this container appears
    std::string lastKey; // most recent key in this object
    StringSet<> keys;
  };
  std::vector<Frame> stack;
  size_t i = 0, n = text.size();
  while (i < n) {
    char ch = text[i];
    if (ch == '"') {
      size_t j = i + 1;
      bool hasEscape = false;
      while (j < n && text[j] != '"') {
        if (text[j] == '\\') {
          hasEscape = true;
          ++j;
        }
        ++j;
      }
      if (j >= n)
        return Error::success(); // unterminated string: JSON parser reports
      StringRef raw = text.slice(i, j + 1);
      if (!stack.empty() && stack.back().isObject && stack.back().expectKey) {
        std::string key;
        if (hasEscape) {
          Expected<json::Value> v = json::parse(raw);
          if (!v) {
            consumeError(v.takeError());
            return Error::success();
          }
          if (std::optional<StringRef> s = v->getAsString())
            key = s->str();
        } else {
          key = raw.drop_front().drop_back().str();
        }
        Frame &f = stack.back();
        if (!f.keys.insert(key).second) {
          if (stack.size() == 1)
            return makeError(path + ": duplicate tensor name '" + key +
                             "' in header");
          return makeError(path + ": tensor '" + f.owner +
                           "': duplicate key '" + key + "' in header");
        }
        f.lastKey = key;
        f.expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (ch == '{' || ch == '[') {
      if (stack.size() >= kMaxHeaderDepth)
        return makeError(path + ": header JSON is nested too deeply");
      std::string owner;
      if (!stack.empty())
        owner = stack.back().isObject ? stack.back().lastKey
                                      : stack.back().owner;
      stack.push_back({ch == '{', ch == '{', owner, "", {}});
    } else if (ch == '}' || ch == ']') {
      if (stack.empty())
        return Error::success();
      stack.pop_back();
    } else if (ch == ',') {
      if (!stack.empty() && stack.back().isObject)
        stack.back().expectKey = true;
    }
    ++i;
  }
  return Error::success();
}


bool getNonNegInt(const json::Value &v, int64_t &out) {
  std::optional<int64_t> i = getInt64(v);
  if (!i || *i < 0)
    return false;
  out = *i;
  return true;
}

} // namespace

Expected<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::open(StringRef path) {
  // Read into memory the model owns, not mapped: a file overwritten or
  // truncated after load can neither change nor crash a loaded model.
  Expected<std::unique_ptr<RegularFile>> file =
      RegularFile::open(path, "weights file");
  if (!file)
    return file.takeError();
  uint64_t size = (*file)->size();
  if (size > SIZE_MAX)
    return makeError(path + ": file is too large for this machine");
  std::unique_ptr<WritableMemoryBuffer> buf =
      WritableMemoryBuffer::getNewUninitMemBuffer(size_t(size), path,
                                                  Align(64));
  if (!buf)
    return makeError(path + ": cannot allocate " + Twine(size) +
                     " bytes to read the weights (out of memory)");
  if (Error e = (*file)->readAt(0, buf->getBufferStart(), size))
    return std::move(e);
  return fromBuffer(std::move(buf), path);
}

Expected<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::fromBuffer(std::unique_ptr<MemoryBuffer> buffer,
                            StringRef path) {
  const uint64_t fileSize = buffer->getBufferSize();
  const uint8_t *base =
      reinterpret_cast<const uint8_t *>(buffer->getBufferStart());
  if (fileSize < 8)
    return makeError(path + ": file is too short (" + Twine(fileSize) +
                     " bytes) to be a safetensors file; expected an 8-byte "
                     "header length");
  uint64_t headerLen = support::endian::read64le(base);
  if (headerLen > fileSize - 8)
    return makeError(path + ": header length " + Twine(headerLen) +
                     " exceeds the remaining file size " +
                     Twine(fileSize - 8) + " (truncated or not safetensors)");
  if (headerLen > kMaxSafeTensorsHeaderBytes)
    return makeError(path + ": header length " + Twine(headerLen) +
                     " exceeds the 100 MiB limit");
  if (headerLen < 2)
    return makeError(path + ": header is not a JSON object");

  StringRef headerText(reinterpret_cast<const char *>(base + 8), headerLen);
  if (headerText.front() != '{')
    return makeError(path + ": header is not a JSON object (first byte is "
                            "not '{')");
  if (Error e = scanHeaderStructure(headerText, path))
    return std::move(e);
  Expected<json::Value> parsed = json::parse(headerText);
  if (!parsed)
    return makeError(path + ": header is not valid JSON: " +
                     toString(parsed.takeError()));
  json::Object *root = parsed->getAsObject();
  if (!root)
    return makeError(path + ": header is not a JSON object");

  const uint64_t dataStart = 8 + headerLen;
  const uint64_t dataSize = fileSize - dataStart;

  std::unique_ptr<SafeTensorsFile> file(new SafeTensorsFile());
  file->filePath = path.str();

  struct Range {
    uint64_t begin, end;
    size_t idx;
  };
  std::vector<Range> ranges;
  ranges.reserve(root->size());
  file->tensorList.reserve(root->size());

  for (const auto &kv : *root) {
    StringRef name = kv.first;
    const json::Value &val = kv.second;
    if (name == "__metadata__") {
      const json::Object *m = val.getAsObject();
      if (!m)
        return makeError(path + ": '__metadata__' must be an object of "
                                "string values");
      for (const auto &mkv : *m) {
        std::optional<StringRef> s = mkv.second.getAsString();
        if (!s)
          return makeError(path + ": '__metadata__' entry '" + StringRef(mkv.first) +
                           "' must be a string");
        file->meta[mkv.first.str()] = s->str();
      }
      continue;
    }
    auto terr = [&](const Twine &msg) {
      return makeError(path + ": tensor '" + name + "': " + msg);
    };
    const json::Object *entry = val.getAsObject();
    if (!entry)
      return terr("header entry must be an object with 'dtype', 'shape' and "
                  "'data_offsets'");

    TensorInfo t;
    t.name = name.str();

    const json::Value *dtv = entry->get("dtype");
    if (!dtv)
      return terr("missing 'dtype'");
    std::optional<StringRef> dts = dtv->getAsString();
    if (!dts)
      return terr("'dtype' must be a string");
    std::optional<DType> dt = parseDType(*dts);
    if (!dt)
      return terr("unknown dtype '" + *dts + "'");
    t.dtype = *dt;

    const json::Value *shv = entry->get("shape");
    if (!shv)
      return terr("missing 'shape'");
    const json::Array *sha = shv->getAsArray();
    if (!sha)
      return terr("'shape' must be a list of non-negative integers");
    t.shape.reserve(sha->size());
    for (const json::Value &d : *sha) {
      int64_t dim;
      if (!getNonNegInt(d, dim))
        return terr("'shape' must be a list of non-negative integers");
      t.shape.push_back(dim);
    }
    int64_t numel = 0, nbytes = 0;
    if (!checkedNumElements(t.shape, numel) ||
        !checkedMulNonNeg(numel, static_cast<int64_t>(dtypeSize(t.dtype)),
                          nbytes))
      return terr("shape " + formatShape(t.shape) +
                  " has too many elements (size overflows)");

    const json::Value *ofv = entry->get("data_offsets");
    if (!ofv)
      return terr("missing 'data_offsets'");
    const json::Array *ofa = ofv->getAsArray();
    int64_t b = 0, e = 0;
    if (!ofa || ofa->size() != 2 || !getNonNegInt((*ofa)[0], b) ||
        !getNonNegInt((*ofa)[1], e))
      return terr("'data_offsets' must be a list of two non-negative "
                  "integers [begin, end]");
    if (b > e)
      return terr("data_offsets [" + Twine(b) + ", " + Twine(e) +
                  "] has begin > end");
    if (static_cast<uint64_t>(e) > dataSize)
      return terr("data_offsets [" + Twine(b) + ", " + Twine(e) +
                  "] extend past the end of the data section (" +
                  Twine(dataSize) + " bytes; file truncated?)");
    if (e - b != nbytes)
      return terr("data_offsets [" + Twine(b) + ", " + Twine(e) + "] span " +
                  Twine(e - b) + " bytes but shape " + formatShape(t.shape) +
                  " of " + dtypeName(t.dtype) + " needs " + Twine(nbytes) +
                  " bytes");
    t.data = base + dataStart + b;
    t.numBytes = static_cast<uint64_t>(nbytes);
    ranges.push_back({static_cast<uint64_t>(b), static_cast<uint64_t>(e),
                      file->tensorList.size()});
    file->tensorList.push_back(std::move(t));
  }

  // Reject overlapping data ranges.
  std::sort(ranges.begin(), ranges.end(), [&](const Range &x, const Range &y) {
    if (x.begin != y.begin)
      return x.begin < y.begin;
    if (x.end != y.end)
      return x.end < y.end;
    return file->tensorList[x.idx].name < file->tensorList[y.idx].name;
  });
  const Range *prev = nullptr;
  for (const Range &r : ranges) {
    if (r.begin == r.end)
      continue;
    if (prev && r.begin < prev->end)
      return makeError(path + ": tensor '" + file->tensorList[r.idx].name +
                       "': data_offsets [" + Twine(r.begin) + ", " +
                       Twine(r.end) + "] overlap tensor '" +
                       file->tensorList[prev->idx].name + "' [" +
                       Twine(prev->begin) + ", " + Twine(prev->end) + "]");
    prev = &r;
  }

  // Store tensors in data-offset order.
  std::vector<TensorInfo> sorted;
  sorted.reserve(ranges.size());
  for (const Range &r : ranges)
    sorted.push_back(std::move(file->tensorList[r.idx]));
  file->tensorList = std::move(sorted);
  for (size_t i = 0; i < file->tensorList.size(); ++i) {
    if (!file->index.try_emplace(file->tensorList[i].name, i).second)
      return makeError(path + ": duplicate tensor name '" +
                       file->tensorList[i].name + "' in header");
  }
  file->buffer = std::move(buffer);
  return std::move(file);
}

const TensorInfo *SafeTensorsFile::lookup(StringRef name) const {
  auto it = index.find(name);
  if (it == index.end())
    return nullptr;
  return &tensorList[it->second];
}

Error copyAsF32(const TensorInfo &t, float *dst) {
  uint64_t size = dtypeSize(t.dtype);
  uint64_t n = size ? t.numBytes / size : 0;
  switch (t.dtype) {
  case DType::F32:
    if (t.numBytes)
      std::memcpy(dst, t.data, t.numBytes);
    return Error::success();
  case DType::F16:
    convertHalfToF32(t.data, dst, n);
    return Error::success();
  case DType::BF16:
    convertBF16ToF32(t.data, dst, n);
    return Error::success();
  default:
    return makeError("tensor '" + t.name + "': dtype " + dtypeName(t.dtype) +
                     " is not supported; expected F32, F16 or BF16");
  }
}

Error writeSafeTensorsRaw(StringRef path, ArrayRef<SafeTensorsRawEntry> tensors,
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
    if (static_cast<uint64_t>(nbytes) != t.bytes.size())
      return makeError(path + ": tensor '" + t.name + "': " +
                       Twine(t.bytes.size()) + " data bytes given but shape " +
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

  return writeFileAtomically(path, [&](raw_ostream &os) -> Error {
    char len[8];
    support::endian::write64le(len, text.size());
    os.write(len, 8);
    os << text;
    for (const SafeTensorsRawEntry &t : tensors)
      os.write(reinterpret_cast<const char *>(t.bytes.data()), t.bytes.size());
    return Error::success();
  });
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
