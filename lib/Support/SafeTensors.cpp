//===- SafeTensors.cpp - Defensive safetensors reader/writer --------------===//
#include "mhmoe/Support/SafeTensors.h"
#include "JSONReading.h"
#include "mhmoe/Support/Float16.h"
#include "mhmoe/Support/InputFiles.h"
#include "mhmoe/Support/Shape.h"

#include <algorithm>
#include <cstdio>
#include <sys/stat.h>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

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

const char *dtypeName(DType t) {
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

std::optional<DType> parseDType(std::string_view s) {
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
/// which a JSON parser would silently collapse, and for excessive nesting.
/// Any syntactic problem is left for the JSON parser to report.
Status scanHeaderStructure(std::string_view text, const std::string &path) {
  struct Frame {
    bool isObject;
    bool expectKey;
    std::string owner;   // key under which this container appears
    std::string lastKey; // most recent key in this object
    std::set<std::string> keys;
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
        return Status::success(); // unterminated string: JSON parser reports
      std::string_view raw = text.substr(i, j + 1 - i);
      if (!stack.empty() && stack.back().isObject && stack.back().expectKey) {
        std::string key;
        if (hasEscape) {
          Result<json::Value> v = json::parse(raw, path);
          if (!v)
            return Status::success();
          if (v->is_string())
            key = v->get<std::string>();
        } else {
          key = std::string(raw.substr(1, raw.size() - 2));
        }
        Frame &f = stack.back();
        if (!f.keys.insert(key).second) {
          if (stack.size() == 1)
            return Status::error(path + ": duplicate tensor name '" + key +
                             "' in header");
          return Status::error(path + ": tensor '" + f.owner +
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
        return Status::error(path + ": header JSON is nested too deeply");
      std::string owner;
      if (!stack.empty())
        owner = stack.back().isObject ? stack.back().lastKey
                                      : stack.back().owner;
      stack.push_back({ch == '{', ch == '{', owner, "", {}});
    } else if (ch == '}' || ch == ']') {
      if (stack.empty())
        return Status::success();
      stack.pop_back();
    } else if (ch == ',') {
      if (!stack.empty() && stack.back().isObject)
        stack.back().expectKey = true;
    }
    ++i;
  }
  return Status::success();
}


bool getNonNegInt(const json::Value &v, int64_t &out) {
  std::optional<int64_t> i = json::getInt64(v);
  if (!i || *i < 0)
    return false;
  out = *i;
  return true;
}


/// The 8-byte header length of a file of `fileSize` bytes: room for "{}",
/// within the file and within the 100 MiB limit.
Status checkHeaderLength(uint64_t headerLen, uint64_t fileSize,
                         const std::string &path) {
  if (headerLen > fileSize - 8)
    return Status::error(path + ": header length " + std::to_string(headerLen) +
                         " exceeds the remaining file size " +
                         std::to_string(fileSize - 8) +
                         " (truncated or not safetensors)");
  if (headerLen > kMaxSafeTensorsHeaderBytes)
    return Status::error(path + ": header length " + std::to_string(headerLen) +
                         " exceeds the 100 MiB limit");
  if (headerLen < 2)
    return Status::error(path + ": header is not a JSON object");
  return Status::success();
}

/// The header text as a JSON object, checked for duplicate keys and nesting
/// before it is parsed.
Result<json::Value> parseHeaderJSON(std::string_view headerText,
                                    const std::string &path) {
  if (headerText.front() != '{')
    return Status::error(path + ": header is not a JSON object (first byte is "
                                "not '{')");
  if (Status e = scanHeaderStructure(headerText, path))
    return e;
  Result<json::Value> parsed =
      json::parse(headerText, path + ": header is not valid JSON");
  if (!parsed)
    return parsed.takeError();
  if (!parsed->is_object())
    return Status::error(path + ": header is not a JSON object");
  return parsed;
}
} // namespace

void SafeTensorsFile::FreeBytes::operator()(uint8_t *p) const {
  if (owned)
    std::free(p);
}

/// 64-byte aligned memory for exactly `size` bytes (at least one), or null:
/// exactly, so that ASan sees any read past the end (fuzz/).
static uint8_t *allocateAligned(uint64_t size) {
  void *p = nullptr;
  if (posix_memalign(&p, 64, size_t(std::max<uint64_t>(size, 1))) != 0)
    return nullptr;
  return static_cast<uint8_t *>(p);
}

static uint64_t readU64LE(const uint8_t *p);

Result<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::open(const std::string &path) {
  return open(path, NeededBytes());
}

Result<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::open(const std::string &path, const NeededBytes &needed) {
  // Read into memory the model owns, not mapped: a file overwritten or
  // truncated after load can neither change nor crash a loaded model.
  Result<std::unique_ptr<RegularFile>> file =
      RegularFile::open(path, "weights file");
  if (!file)
    return file.takeError();
  uint64_t size = (*file)->size();
  if (size > SIZE_MAX - 64)
    return Status::error(path + ": file is too large for this machine");
  std::unique_ptr<uint8_t, FreeBytes> bytes(allocateAligned(size));
  if (!bytes)
    return Status::error(path + ": cannot allocate " + std::to_string(size) +
                         " bytes to read the weights (out of memory)");
  if (!needed) {
    if (Status e = (*file)->readAt(0, bytes.get(), size))
      return e;
    return fromOwnedBytes(std::move(bytes), size, path);
  }
  // The header first (validated as usual), then each tensor's needed bytes
  // in place.
  uint8_t *base = bytes.get();
  uint64_t headerEnd = std::min<uint64_t>(size, 8);
  if (Status e = (*file)->readAt(0, base, headerEnd))
    return e;
  if (size >= 8) {
    uint64_t headerLen = readU64LE(base);
    if (Status e = checkHeaderLength(headerLen, size, path))
      return e;
    headerEnd = 8 + headerLen;
    if (Status e = (*file)->readAt(8, base + 8, headerLen))
      return e;
  }
  Result<std::unique_ptr<SafeTensorsFile>> st =
      fromOwnedBytes(std::move(bytes), size, path);
  if (!st)
    return st;
  for (const TensorInfo &t : (*st)->tensors()) {
    auto [begin, end] = needed(t);
    end = std::min(end, t.numBytes);
    if (begin >= end)
      continue;
    uint64_t at = uint64_t(t.data - base) + begin;
    if (Status e = (*file)->readAt(at, const_cast<uint8_t *>(t.data) + begin,
                                   end - begin))
      return e;
  }
  return st;
}

Result<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::fromBytes(const void *data, size_t size,
                           const std::string &path) {
  std::unique_ptr<uint8_t, FreeBytes> bytes(allocateAligned(size));
  if (!bytes)
    return Status::error(path + ": out of memory");
  if (size)
    std::memcpy(bytes.get(), data, size);
  return fromOwnedBytes(std::move(bytes), size, path);
}

Result<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::fromBorrowedBytes(const uint8_t *data, uint64_t size,
                                   const std::string &path,
                                   std::shared_ptr<const void> owner) {
  // The validator only reads; const is cast away to share its storage type.
  std::unique_ptr<uint8_t, FreeBytes> bytes(const_cast<uint8_t *>(data),
                                            FreeBytes(/*owned=*/false));
  Result<std::unique_ptr<SafeTensorsFile>> file =
      fromOwnedBytes(std::move(bytes), size, path);
  if (file)
    (*file)->owner = std::move(owner);
  return file;
}

/// The little-endian u64 at `p`.
static uint64_t readU64LE(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

Result<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::fromOwnedBytes(std::unique_ptr<uint8_t, FreeBytes> bytes,
                                uint64_t fileSize, const std::string &path) {
  const uint8_t *base = bytes.get();
  if (fileSize < 8)
    return Status::error(path + ": file is too short (" +
                         std::to_string(fileSize) +
                         " bytes) to be a safetensors file; expected an "
                         "8-byte header length");
  uint64_t headerLen = readU64LE(base);
  if (Status e = checkHeaderLength(headerLen, fileSize, path))
    return e;
  std::string_view headerText(reinterpret_cast<const char *>(base + 8),
                              size_t(headerLen));
  Result<json::Value> parsed = parseHeaderJSON(headerText, path);
  if (!parsed)
    return parsed.takeError();
  const json::Value &root = *parsed;

  const uint64_t dataStart = 8 + headerLen;
  const uint64_t dataSize = fileSize - dataStart;

  std::unique_ptr<SafeTensorsFile> file(new SafeTensorsFile());
  file->filePath = path;

  struct Range {
    uint64_t begin, end;
    size_t idx;
  };
  std::vector<Range> ranges;
  ranges.reserve(root.size());
  file->tensorList.reserve(root.size());

  for (const auto &kv : root.items()) {
    const std::string &name = kv.key();
    const json::Value &val = kv.value();
    if (name == "__metadata__") {
      if (!val.is_object())
        return Status::error(path + ": '__metadata__' must be an object of "
                                    "string values");
      for (const auto &mkv : val.items()) {
        if (!mkv.value().is_string())
          return Status::error(path + ": '__metadata__' entry '" + mkv.key() +
                               "' must be a string");
        file->meta[mkv.key()] = mkv.value().get<std::string>();
      }
      continue;
    }
    auto terr = [&](const std::string &msg) {
      return Status::error(path + ": tensor '" + name + "': " + msg);
    };
    if (!val.is_object())
      return terr("header entry must be an object with 'dtype', 'shape' and "
                  "'data_offsets'");

    TensorInfo t;
    t.name = name;

    const json::Value *dtv = json::get(val, "dtype");
    if (!dtv)
      return terr("missing 'dtype'");
    if (!dtv->is_string())
      return terr("'dtype' must be a string");
    std::string dts = dtv->get<std::string>();
    std::optional<DType> dt = parseDType(dts);
    if (!dt)
      return terr("unknown dtype '" + dts + "'");
    t.dtype = *dt;

    const json::Value *sha = json::get(val, "shape");
    if (!sha)
      return terr("missing 'shape'");
    if (!sha->is_array())
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

    const json::Value *ofa = json::get(val, "data_offsets");
    if (!ofa)
      return terr("missing 'data_offsets'");
    int64_t b = 0, e = 0;
    if (!ofa->is_array() || ofa->size() != 2 || !getNonNegInt((*ofa)[0], b) ||
        !getNonNegInt((*ofa)[1], e))
      return terr("'data_offsets' must be a list of two non-negative "
                  "integers [begin, end]");
    if (b > e)
      return terr("data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                  "] has begin > end");
    if (static_cast<uint64_t>(e) > dataSize)
      return terr("data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                  "] extend past the end of the data section (" +
                  std::to_string(dataSize) + " bytes; file truncated?)");
    if (e - b != nbytes)
      return terr("data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + "] span " +
                  std::to_string(e - b) + " bytes but shape " + formatShape(t.shape) +
                  " of " + std::string(dtypeName(t.dtype)) + " needs " + std::to_string(nbytes) +
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
      return Status::error(path + ": tensor '" + file->tensorList[r.idx].name +
                       "': data_offsets [" + std::to_string(r.begin) + ", " +
                       std::to_string(r.end) + "] overlap tensor '" +
                       file->tensorList[prev->idx].name + "' [" +
                       std::to_string(prev->begin) + ", " + std::to_string(prev->end) + "]");
    prev = &r;
  }

  // Store tensors in data-offset order.
  std::vector<TensorInfo> sorted;
  sorted.reserve(ranges.size());
  for (const Range &r : ranges)
    sorted.push_back(std::move(file->tensorList[r.idx]));
  file->tensorList = std::move(sorted);
  for (size_t i = 0; i < file->tensorList.size(); ++i) {
    if (!file->index.emplace(file->tensorList[i].name, i).second)
      return Status::error(path + ": duplicate tensor name '" +
                       file->tensorList[i].name + "' in header");
  }
  file->bytes = std::move(bytes);
  file->numBytes = fileSize;
  return file;
}

const TensorInfo *SafeTensorsFile::lookup(const std::string &name) const {
  auto it = index.find(name);
  if (it == index.end())
    return nullptr;
  return &tensorList[it->second];
}

Status copyAsF32(const TensorInfo &t, float *dst) {
  uint64_t size = dtypeSize(t.dtype);
  uint64_t n = size ? t.numBytes / size : 0;
  switch (t.dtype) {
  case DType::F32:
    if (t.numBytes)
      std::memcpy(dst, t.data, t.numBytes);
    return Status::success();
  case DType::F16:
    convertHalfToF32(t.data, dst, n);
    return Status::success();
  case DType::BF16:
    convertBF16ToF32(t.data, dst, n);
    return Status::success();
  default:
    return Status::error("tensor '" + t.name + "': dtype " +
                         std::string(dtypeName(t.dtype)) +
                     " is not supported; expected F32, F16 or BF16");
  }
}

Result<std::map<std::string, std::string>>
readSafeTensorsDTypes(const std::string &path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return Status::error(path + ": not a regular file");
  std::unique_ptr<std::FILE, int (*)(std::FILE *)> f(
      std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f)
    return Status::error(path + ": cannot open");
  uint8_t len8[8];
  if (std::fread(len8, 1, 8, f.get()) != 8)
    return Status::error(path + ": shorter than a safetensors header length");
  uint64_t n = readU64LE(len8);
  if (Status e = checkHeaderLength(n, static_cast<uint64_t>(st.st_size), path))
    return e;
  std::string header(n, '\0');
  if (std::fread(header.data(), 1, n, f.get()) != n)
    return Status::error(path + ": cannot read the safetensors header");
  Result<json::Value> parsed = parseHeaderJSON(header, path);
  if (!parsed)
    return parsed.takeError();
  std::map<std::string, std::string> dtypes;
  for (const auto &kv : parsed->items())
    if (const json::Value *d = kv.value().is_object()
                                   ? json::get(kv.value(), "dtype")
                                   : nullptr;
        d && d->is_string())
      dtypes[kv.key()] = d->get<std::string>();
  return dtypes;
}

Status copyAs(const TensorInfo &t, DType to, void *dst) {
  if (to == DType::F32)
    return copyAsF32(t, static_cast<float *>(dst));
  if (to == t.dtype) {
    if (t.numBytes)
      std::memcpy(dst, t.data, t.numBytes);
    return Status::success();
  }
  if (to != DType::F16 && to != DType::BF16)
    return Status::error("tensor '" + t.name + "': cannot convert to " +
                         std::string(dtypeName(to)));
  // Narrowing: widen a block to f32, then round each value.
  uint64_t size = dtypeSize(t.dtype);
  uint64_t n = size ? t.numBytes / size : 0;
  auto *out = static_cast<uint16_t *>(dst);
  constexpr uint64_t kBlock = 4096;
  std::vector<float> f32(std::min<uint64_t>(n, kBlock));
  for (uint64_t i = 0; i < n; i += kBlock) {
    uint64_t m = std::min(kBlock, n - i);
    TensorInfo part = t;
    part.data = t.data + i * size;
    part.numBytes = m * size;
    if (Status err = copyAsF32(part, f32.data()))
      return err;
    for (uint64_t j = 0; j < m; ++j)
      out[i + j] = to == DType::BF16 ? floatToBF16(f32[j]) : floatToHalf(f32[j]);
  }
  return Status::success();
}

} // namespace mhmoe
