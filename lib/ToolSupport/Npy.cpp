//===- Npy.cpp - NumPy .npy reader/writer ---------------------------------===//
#include "mhmoe/ToolSupport/Npy.h"
#include "mhmoe/ToolSupport/LLVMError.h"
#include "mhmoe/Support/InputFiles.h"
#include "mhmoe/ToolSupport/OutputFiles.h"
#include "mhmoe/Support/Float16.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

using namespace llvm;

namespace mhmoe {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kMaxRank = 64;

/// Minimal parser for the Python dict literal in a .npy header, e.g.
///   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class HeaderParser {
public:
  HeaderParser(StringRef text, StringRef file) : s(text), file(file) {}

  Error parse() {
    skipWs();
    if (!eat('{'))
      return err("header is not a Python dict literal");
    while (true) {
      skipWs();
      if (eat('}'))
        break;
      std::string key;
      if (!parseString(key))
        return err("header dict key must be a quoted string");
      skipWs();
      if (!eat(':'))
        return err("expected ':' after key '" + key + "' in header");
      skipWs();
      if (key == "descr") {
        if (!parseString(descr))
          return err("header 'descr' must be a string; structured dtypes are "
                     "not supported");
        haveDescr = true;
      } else if (key == "fortran_order") {
        if (consume("True"))
          fortranOrder = true;
        else if (consume("False"))
          fortranOrder = false;
        else
          return err("header 'fortran_order' must be True or False");
        haveFortran = true;
      } else if (key == "shape") {
        if (Error e = parseShape())
          return e;
        haveShape = true;
      } else {
        return err("unexpected key '" + key + "' in header");
      }
      skipWs();
      if (eat(','))
        continue;
      skipWs();
      if (eat('}'))
        break;
      return err("malformed header dict");
    }
    skipWs();
    if (pos != s.size())
      return err("trailing characters after header dict");
    if (!haveDescr)
      return err("header is missing 'descr'");
    if (!haveFortran)
      return err("header is missing 'fortran_order'");
    if (!haveShape)
      return err("header is missing 'shape'");
    return Error::success();
  }

  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;

private:
  Error err(const Twine &msg) { return makeError(file + ": " + msg); }

  void skipWs() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' ||
                              s[pos] == '\n' || s[pos] == '\r'))
      ++pos;
  }
  bool eat(char c) {
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  bool consume(StringRef word) {
    if (s.substr(pos).starts_with(word)) {
      pos += word.size();
      return true;
    }
    return false;
  }
  bool parseString(std::string &out) {
    if (pos >= s.size() || (s[pos] != '\'' && s[pos] != '"'))
      return false;
    char q = s[pos++];
    out.clear();
    while (pos < s.size() && s[pos] != q) {
      if (s[pos] == '\\')
        return false; // escapes never occur in valid headers
      out.push_back(s[pos++]);
    }
    return eat(q);
  }
  Error parseShape() {
    if (!eat('('))
      return err("header 'shape' must be a tuple of integers");
    while (true) {
      skipWs();
      if (eat(')'))
        return Error::success();
      size_t start = pos;
      while (pos < s.size() && isDigit(s[pos]))
        ++pos;
      if (start == pos)
        return err("header 'shape' must be a tuple of non-negative integers");
      int64_t dim = 0;
      if (s.slice(start, pos).getAsInteger(10, dim) || dim < 0)
        return err("header 'shape' dimension '" + s.slice(start, pos) +
                   "' is out of range");
      eat('L'); // Python 2 long suffix
      if (shape.size() >= kMaxRank)
        return err("header 'shape' has more than " + Twine(kMaxRank) +
                   " dimensions");
      shape.push_back(dim);
      skipWs();
      if (eat(','))
        continue;
      skipWs();
      if (eat(')'))
        return Error::success();
      return err("header 'shape' must be a tuple of integers");
    }
  }

  StringRef s;
  StringRef file;
  size_t pos = 0;
  bool haveDescr = false, haveFortran = false, haveShape = false;
};

} // namespace

namespace {

/// What the header says about the data that follows it.
struct NpyLayout {
  std::vector<int64_t> shape;
  std::string descr;
  bool isHalf = false;
  uint64_t dataStart = 0;
  int64_t numel = 0, nbytes = 0;
};

/// Parses the magic, version and header dict at the start of `bytes` (which
/// may hold only a prefix of the file).
Expected<NpyLayout> parseNpyLayout(StringRef bytes, StringRef file) {
  auto err = [&](const Twine &msg) { return makeError(file + ": " + msg); };
  if (bytes.size() < kMagicLen + 2 || !bytes.starts_with(StringRef(kMagic, kMagicLen)))
    return err("not a .npy file (bad magic)");
  uint8_t major = static_cast<uint8_t>(bytes[6]);
  uint8_t minor = static_cast<uint8_t>(bytes[7]);
  uint64_t headerLen, headerStart;
  if (major == 1) {
    if (bytes.size() < 10)
      return err("truncated .npy header");
    headerLen = support::endian::read16le(bytes.data() + 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return err("truncated .npy header");
    headerLen = support::endian::read32le(bytes.data() + 8);
    headerStart = 12;
  } else {
    return err("unsupported .npy format version " + Twine(unsigned(major)) + "." +
               Twine(unsigned(minor)));
  }
  if (headerLen > kMaxNpyHeaderBytes)
    return err("header length " + Twine(headerLen) + " exceeds the " +
               Twine(kMaxNpyHeaderBytes) + "-byte limit");
  if (headerLen > bytes.size() - headerStart)
    return err("header length " + Twine(headerLen) +
               " exceeds the file size (truncated file)");
  StringRef headerText = bytes.substr(headerStart, headerLen);
  HeaderParser hp(headerText, file);
  if (Error e = hp.parse())
    return std::move(e);

  NpyLayout layout;
  StringRef d = hp.descr;
  int64_t itemSize = 4;
  if (d == "<f4" || d == "=f4") {
    layout.isHalf = false;
  } else if (d == "<f2" || d == "=f2") {
    itemSize = 2;
    layout.isHalf = true;
  } else if (d.starts_with(">")) {
    return err("big-endian dtype '" + d +
               "' is not supported; convert with arr.astype('<f4')");
  } else {
    return err("dtype '" + d +
               "' is not supported; expected '<f4' (float32) or '<f2' "
               "(float16)");
  }
  if (hp.fortranOrder)
    return err("fortran_order arrays are not supported; save with "
               "np.ascontiguousarray");
  if (hp.shape.empty())
    return err("0-dimensional arrays are not supported; shape must have at "
               "least one dimension");
  if (!checkedNumElements(hp.shape, layout.numel) ||
      !checkedMulNonNeg(layout.numel, itemSize, layout.nbytes) ||
      static_cast<uint64_t>(layout.numel) > SIZE_MAX / sizeof(float))
    return err("shape " + formatShape(hp.shape) +
               " has too many elements (size overflows)");
  layout.shape = hp.shape;
  layout.descr = d.str();
  layout.dataStart = headerStart + headerLen;
  return std::move(layout);
}

/// The data must be exactly what the header promises.
Error checkDataSize(const NpyLayout &l, uint64_t fileSize, StringRef file) {
  uint64_t available = fileSize - l.dataStart;
  if (available < static_cast<uint64_t>(l.nbytes))
    return makeError(file + ": data is truncated: shape " +
                     formatShape(l.shape) + " of '" + l.descr + "' needs " +
                     Twine(l.nbytes) + " bytes but only " + Twine(available) +
                     " are present");
  if (available > static_cast<uint64_t>(l.nbytes))
    return makeError(file + ": file has " +
                     Twine(available - uint64_t(l.nbytes)) +
                     " trailing bytes after the data for shape " +
                     formatShape(l.shape));
  return Error::success();
}

/// An empty array of the layout's shape, its f32 storage allocated: probed
/// with malloc first, which returns NULL, instead of letting the vector's
/// operator new abort the process ("LLVM ERROR: out of memory").
Expected<NpyArray> allocateArray(const NpyLayout &l, StringRef file) {
  const size_t f32Bytes = static_cast<size_t>(l.numel) * sizeof(float);
  if (f32Bytes > 0) {
    void *probe = std::malloc(f32Bytes);
    if (!probe)
      return makeError(file + ": cannot allocate " + Twine(f32Bytes) +
                       " bytes for shape " + formatShape(l.shape) +
                       " (out of memory)");
    std::free(probe);
  }
  NpyArray arr;
  arr.shape = l.shape;
  arr.data.resize(static_cast<size_t>(l.numel));
  return std::move(arr);
}

} // namespace

/// Reads `n` bytes of the file at `offset` into `dst`.
using NpyDataReader =
    function_ref<Error(uint64_t offset, void *dst, uint64_t n)>;

/// The array whose header starts `prefix` (a file of `fileSize` bytes): the
/// shape checked first, then the data size, then the data read through
/// `readData` (f16 in chunks, so there is no second array-sized buffer).
static Expected<NpyArray> decodeNpy(StringRef prefix, uint64_t fileSize,
                                    StringRef file, const NpyShapeCheck &check,
                                    NpyDataReader readData) {
  Expected<NpyLayout> layout = parseNpyLayout(prefix, file);
  if (!layout)
    return layout.takeError();
  if (check)
    if (Error e = check(layout->shape))
      return std::move(e);
  if (Error e = checkDataSize(*layout, fileSize, file))
    return std::move(e);
  Expected<NpyArray> arr = allocateArray(*layout, file);
  if (!arr)
    return arr.takeError();
  if (layout->nbytes == 0) // an empty array has no storage to read into
    return arr;
  if (!layout->isHalf) {
    if (Error e = readData(layout->dataStart, arr->data.data(),
                           uint64_t(layout->nbytes)))
      return std::move(e);
    return arr;
  }
  constexpr size_t kChunk = size_t(1) << 18;
  std::vector<uint8_t> half(2 * kChunk);
  for (size_t at = 0, n = arr->data.size(); at < n; at += kChunk) {
    size_t count = std::min(kChunk, n - at);
    if (Error e = readData(layout->dataStart + 2 * uint64_t(at), half.data(),
                           2 * uint64_t(count)))
      return std::move(e);
    convertHalfToF32(half.data(), arr->data.data() + at, count);
  }
  return arr;
}

Expected<NpyArray> parseNpy(StringRef bytes, StringRef file,
                            const NpyShapeCheck &check) {
  return decodeNpy(bytes, bytes.size(), file, check,
                   [&](uint64_t offset, void *dst, uint64_t n) {
                     std::memcpy(dst, bytes.data() + offset, size_t(n));
                     return Error::success();
                   });
}

Expected<NpyArray> readNpy(StringRef path, const NpyShapeCheck &check) {
  Expected<std::unique_ptr<RegularFile>> file =
      toExpected(RegularFile::open(path.str(), ".npy input"));
  if (!file)
    return file.takeError();
  // The header first: the shape is checked before any data is read.
  uint64_t prefixLen =
      std::min<uint64_t>((*file)->size(), 12 + kMaxNpyHeaderBytes);
  std::string prefix(size_t(prefixLen), '\0');
  if (Error e = toLLVMError((*file)->readAt(0, prefix.data(), prefixLen)))
    return std::move(e);
  return decodeNpy(prefix, (*file)->size(), path, check,
                   [&](uint64_t offset, void *dst, uint64_t n) {
                     return toLLVMError((*file)->readAt(offset, dst, n));
                   });
}

Expected<OutputWriter> npyF32Writer(ArrayRef<int64_t> shape,
                                    const float *data) {
  if (shape.empty())
    return makeError("cannot write a 0-dimensional array");
  int64_t numel = 0, nbytes = 0;
  if (!checkedNumElements(shape, numel) || !checkedMulNonNeg(numel, 4, nbytes))
    return makeError("invalid shape " + formatShape(shape));
  if (numel > 0 && !data)
    return makeError("null data pointer");

  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    dict += (shape.size() == 1 || i + 1 < shape.size()) ? "," : "";
    if (i + 1 < shape.size())
      dict += " ";
  }
  dict += "), }";

  // Pad with spaces and a final newline so that the total header (magic,
  // version, length field and dict) is a multiple of 64 bytes.
  uint8_t major = 1;
  size_t prefix = 10;
  size_t total = prefix + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  if (padded - prefix > 0xffff) {
    major = 2;
    prefix = 12;
    total = prefix + dict.size() + 1;
    padded = (total + 63) / 64 * 64;
  }
  dict.append(padded - total, ' ');
  dict.push_back('\n');
  size_t headerLen = dict.size();

  return OutputWriter([=](raw_ostream &os) -> Error {
    os.write(kMagic, kMagicLen);
    os << static_cast<char>(major) << static_cast<char>(0);
    char len[4];
    if (major == 1) {
      support::endian::write16le(len, static_cast<uint16_t>(headerLen));
      os.write(len, 2);
    } else {
      support::endian::write32le(len, static_cast<uint32_t>(headerLen));
      os.write(len, 4);
    }
    os << dict;
    if (nbytes)
      os.write(reinterpret_cast<const char *>(data),
               static_cast<size_t>(nbytes));
    return Error::success();
  });
}

Error writeNpyF32(StringRef path, ArrayRef<int64_t> shape, const float *data) {
  Expected<OutputWriter> writer = npyF32Writer(shape, data);
  if (!writer)
    return makeError(path + ": " + toString(writer.takeError()));
  return writeFileAtomically(path, std::move(*writer));
}

} // namespace mhmoe
